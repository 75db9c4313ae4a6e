/**
 * The protocol's access rules (docs/protocol.md 1 and 2): which topics a session may publish to and
 * subscribe to. One owner for both brokers: the embedded broker's hooks ask here, and so does the
 * HTTP auth hook a clustered broker calls (broker-auth.ts).
 */
import type { ProvisioningSession } from "./operations";
import { STREAM_PATTERN } from "./protocol";
import type { DeviceSession } from "./registry";

/** An authenticated MQTT session: a device provisioning, or a registered device. */
export type Session = ({ kind: "provisioning" } & ProvisioningSession) | ({ kind: "registered" } & DeviceSession);

const SINGLE_LEVEL = /^[^/#+]+$/;

/** The topic levels a session's own topics start with. */
export function rootOf(session: Session): string {
  return session.kind === "provisioning"
    ? `prov/${session.clientId}`
    : `ws/${session.workspaceId}/dev/${session.deviceId}`;
}

/** The last level of `topic` when it is exactly `{prefix}/{one level}`, else undefined. */
export function levelUnder(topic: string, prefix: string): string | undefined {
  if (!topic.startsWith(prefix + "/")) return undefined;
  const level = topic.slice(prefix.length + 1);
  return SINGLE_LEVEL.test(level) ? level : undefined;
}

export function maySubscribe(session: Session, filter: string): boolean {
  const root = rootOf(session);
  if (filter === `${root}/res/+` || levelUnder(filter, `${root}/res`) !== undefined) return true;
  if (session.kind !== "registered") return false;
  if (!filter.startsWith(`${root}/cmd/`)) return false;
  // Anything under D/cmd/#: wildcards only as whole levels, '#' only last.
  const levels = filter.slice(root.length + 5).split("/");
  return levels.every((level, i) =>
    level === "#" ? i === levels.length - 1 : level === "+" || (level.length > 0 && !/[#+]/.test(level)),
  );
}

/** What a session may publish to `topic`: a control request of some kind, a message on a stream, or why not. */
export type Publication = { request: string } | { stream: string } | { refused: string };

export function mayPublish(session: Session, topic: string): Publication {
  const root = rootOf(session);
  const request = levelUnder(topic, `${root}/req`);
  if (request !== undefined) return { request };
  const stream = session.kind === "registered" ? levelUnder(topic, `${root}/msg`) : undefined;
  if (stream === undefined) return { refused: "topic not allowed" };
  if (!STREAM_PATTERN.test(stream)) return { refused: "invalid stream name" };
  return { stream };
}

/** Topics devices publish to the platform are consumed by it and never delivered to anyone. */
export function isDeviceToPlatform(topic: string): boolean {
  const levels = topic.split("/");
  if (levels[0] === "prov") return levels[2] === "req";
  return levels[0] === "ws" && (levels[4] === "req" || levels[4] === "msg");
}

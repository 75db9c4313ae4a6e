/**
 * The protocol's access rules (docs/protocol.md 1 and 2): which topics a session may publish to and
 * subscribe to. One owner for both brokers: the embedded broker's hooks ask here, and so does the
 * HTTP auth hook a clustered broker calls (broker-auth.ts).
 *
 * Topics write a Device ID and a stream name in their topic form (protocol v2): every '.' as '~',
 * which no name holds and which a broker that turns '/' into '.' and back (RabbitMQ's MQTT plugin)
 * leaves alone. The embedded broker, which delivers topics as they were published, also takes
 * v1's topics, which wrote names as they are.
 */
import type { ProvisioningSession } from "./operations";
import { STREAM_PATTERN } from "./protocol";
import type { DeviceSession } from "./registry";

/** An authenticated MQTT session: a device provisioning, or a registered device. */
export type Session = ({ kind: "provisioning" } & ProvisioningSession) | ({ kind: "registered" } & DeviceSession);

const SINGLE_LEVEL = /^[^/#+]+$/;
/** A message's own id, in the last level of a v2 message topic: 1-65535, as MQTT's packet ids. */
const MESSAGE_ID_LEVEL = /^[1-9][0-9]{0,4}$/;

/** A Device ID or stream name as a topic level (v2). */
export function topicLevel(name: string): string {
  return name.replaceAll(".", "~");
}

/** The name a topic level stands for: '~' read as '.'; a v1 level, which wrote '.' as it is, reads the same. */
export function nameOfLevel(level: string): string {
  return level.replaceAll("~", ".");
}

/**
 * The roots of a session's own topics: its v2 root, and with `v1`, also v1's where it differs (a
 * Device ID with a '.'), for a broker that can carry it.
 */
export function rootsOf(session: Session, v1: boolean): string[] {
  if (session.kind === "provisioning") return [`prov/${session.clientId}`];
  const root = `ws/${session.workspaceId}/dev/${topicLevel(session.deviceId)}`;
  const v1Root = `ws/${session.workspaceId}/dev/${session.deviceId}`;
  return v1 && v1Root !== root ? [root, v1Root] : [root];
}

/** The last level of `topic` when it is exactly `{prefix}/{one level}`, else undefined. */
export function levelUnder(topic: string, prefix: string): string | undefined {
  if (!topic.startsWith(prefix + "/")) return undefined;
  const level = topic.slice(prefix.length + 1);
  return SINGLE_LEVEL.test(level) ? level : undefined;
}

export function maySubscribe(session: Session, filter: string, v1: boolean): boolean {
  return rootsOf(session, v1).some((root) => maySubscribeUnder(session, root, filter));
}

function maySubscribeUnder(session: Session, root: string, filter: string): boolean {
  if (filter === `${root}/res/+` || levelUnder(filter, `${root}/res`) !== undefined) return true;
  if (session.kind !== "registered") return false;
  if (!filter.startsWith(`${root}/cmd/`)) return false;
  // Anything under D/cmd/#: wildcards only as whole levels, '#' only last.
  const levels = filter.slice(root.length + 5).split("/");
  return levels.every((level, i) =>
    level === "#" ? i === levels.length - 1 : level === "+" || (level.length > 0 && !/[#+]/.test(level)),
  );
}

/**
 * What a session may publish to `topic`: a control request of some kind (answered under the root
 * it came on), a message on a stream (with its own id in v2's `D/msg/{stream}/{id}`), or why not.
 */
export type Publication =
  { request: string; root: string } | { stream: string; messageId?: number } | { refused: string };

export function mayPublish(session: Session, topic: string, v1: boolean): Publication {
  for (const root of rootsOf(session, v1)) {
    const request = levelUnder(topic, `${root}/req`);
    if (request !== undefined) return { request, root };
    if (session.kind === "registered" && topic.startsWith(`${root}/msg/`))
      return messageOn(topic.slice(root.length + 5));
  }
  return { refused: "topic not allowed" };
}

/** `{stream}` or `{stream}/{id}`, the levels after D/msg/. */
function messageOn(levels: string): Publication {
  const [level, id, ...more] = levels.split("/");
  if (more.length > 0 || !SINGLE_LEVEL.test(level)) return { refused: "topic not allowed" };
  const stream = nameOfLevel(level);
  if (!STREAM_PATTERN.test(stream)) return { refused: "invalid stream name" };
  if (id === undefined) return { stream };
  const messageId = MESSAGE_ID_LEVEL.test(id) ? Number(id) : 0;
  if (!(messageId >= 1 && messageId <= 0xffff)) return { refused: "invalid message id" };
  return { stream, messageId };
}

/** Topics devices publish to the platform are consumed by it and never delivered to anyone. */
export function isDeviceToPlatform(topic: string): boolean {
  const levels = topic.split("/");
  if (levels[0] === "prov") return levels[2] === "req";
  return levels[0] === "ws" && (levels[4] === "req" || levels[4] === "msg");
}

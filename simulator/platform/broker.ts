/**
 * The MQTT side of the platform: an aedes broker whose hooks enforce the topic ACLs of
 * PROTOCOL 1 and 2, hand control requests to the service, and store messages before their PUBACK.
 * It also ends sessions whose credential stopped being valid (expiry, grace, revocation) and
 * slows down clients and provisioning tokens that keep failing at CONNECT.
 */
import { createHash } from "node:crypto";
import { Aedes, type AedesPublishPacket, type Client, type PublishPacket, type Subscription } from "aedes";
import { PlatformError, errorBody } from "./errors";
import type { Operations, ProvisioningSession, Reply } from "./operations";
import { PROVISIONING_CLIENT_ID_PATTERN, STREAM_PATTERN } from "./protocol";
import { RateLimiter } from "./rate-limit";
import { tokenRefusal, type ProvisioningTokens } from "./provisioning-tokens";
import { BAD_USERNAME_OR_PASSWORD, MAX_MESSAGE_BYTES, NOT_AUTHORIZED, type Registry, type RegisteredSession } from "./registry";
import { parseRequest } from "./requests";

export type Log = (line: string) => void;

type Session = ({ kind: "provisioning" } & ProvisioningSession) | ({ kind: "registered" } & RegisteredSession);

export interface BrokerOptions {
  tokens: ProvisioningTokens;
  operations: Operations;
  registry: Registry;
  now: () => number;
  log: Log;
  /** How long a refreshed token's predecessor stays valid, in seconds. Default 300. */
  tokenGraceS?: number;
  /** How often registered sessions are checked against their token's validity. Default 1000 ms. */
  sweepIntervalMs?: number;
}

export const DEFAULT_TOKEN_GRACE_S = 300;
/** A session may refresh this often: a device refreshes once per half lifetime. */
const REFRESH_LIMIT = { limit: 6, windowMs: 60_000 };
/**
 * After this many refused CONNECTs in a minute from one client ID, or with one provisioning
 * token, each further refusal is answered only after FAILED_CONNECT_DELAY_MS. Only refusals are
 * slowed: a valid credential is never delayed, so nobody can lock a device out by failing on
 * its behalf, and other client IDs and tokens are untouched.
 */
const FAILED_CONNECT_LIMIT = { limit: 5, windowMs: 60_000 };
const FAILED_CONNECT_DELAY_MS = 3000;
/** Refusals held back at once; beyond this they are answered at once (sockets are not free). */
const MAX_DELAYED_REFUSALS = 256;
const MAX_TRACKED_KEYS = 10_000;

/** A refused CONNECT: the CONNACK code, and the provisioning token it presented when known. */
interface Refusal {
  returnCode: number;
  provisioningTokenId?: string;
}

/** Message ids a device's memory keeps: as many as the SDK keeps in flight by default. */
const REMEMBERED_MESSAGES = 16;

/**
 * The last messages a device had stored, so that a QoS 1 resend (DUP set, same id and bytes)
 * after a lost PUBACK is acknowledged without being stored twice. Ids are reused after 65535,
 * so only a DUP publish is ever matched.
 */
class RecentMessages {
  private readonly stored: { messageId: number; digest: string }[] = [];

  static digest(stream: string, payload: Buffer): string {
    return createHash("sha256").update(stream).update("\0").update(payload).digest("base64");
  }

  has(messageId: number, digest: string): boolean {
    return this.stored.some((m) => m.messageId === messageId && m.digest === digest);
  }

  add(messageId: number, digest: string): void {
    const same = this.stored.findIndex((m) => m.messageId === messageId);
    if (same >= 0) this.stored.splice(same, 1);
    else if (this.stored.length === REMEMBERED_MESSAGES) this.stored.shift();
    this.stored.push({ messageId, digest });
  }
}

/** Registered client IDs are "{workspaceId}:{deviceId}": up to about 120 characters. */
const MAX_CLIENT_ID_LENGTH = 128;
const SINGLE_LEVEL = /^[^/#+]+$/;

function refuse(returnCode: number): Error & { returnCode: number } {
  return Object.assign(new Error(returnCode === NOT_AUTHORIZED ? "not authorized" : "bad username or password"), {
    returnCode,
  });
}

function rootOf(session: Session): string {
  return session.kind === "provisioning"
    ? `prov/${session.clientId}`
    : `ws/${session.workspaceId}/dev/${session.deviceId}`;
}

/** The last level of `topic` when it is exactly `{prefix}/{one level}`, else undefined. */
function levelUnder(topic: string, prefix: string): string | undefined {
  if (!topic.startsWith(prefix + "/")) return undefined;
  const level = topic.slice(prefix.length + 1);
  return SINGLE_LEVEL.test(level) ? level : undefined;
}

function maySubscribe(session: Session, filter: string): boolean {
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

/** Topics devices publish to the platform are consumed here and never delivered to anyone. */
function isDeviceToPlatform(topic: string): boolean {
  const levels = topic.split("/");
  if (levels[0] === "prov") return levels[2] === "req";
  return levels[0] === "ws" && (levels[4] === "req" || levels[4] === "msg");
}

export class Broker {
  readonly aedes: Aedes;
  private readonly sessions = new WeakMap<Client, Session>();
  /** Connected clients by client ID, as aedes registered them (a takeover replaces the entry). */
  private readonly live = new Map<string, { client: Client; session: Session }>();
  /** By registered client ID ("{workspaceId}:{deviceId}"): outlives connections, not the device. */
  private readonly recentMessages = new Map<string, RecentMessages>();
  private readonly refreshes: RateLimiter;
  private readonly failedConnects: RateLimiter;
  private delayedRefusals = 0;
  private readonly sweeper: NodeJS.Timeout;

  private constructor(
    aedes: Aedes,
    private readonly options: BrokerOptions,
  ) {
    this.aedes = aedes;
    const now = options.now;
    this.refreshes = new RateLimiter({ ...REFRESH_LIMIT, maxKeys: MAX_TRACKED_KEYS, now });
    this.failedConnects = new RateLimiter({ ...FAILED_CONNECT_LIMIT, maxKeys: MAX_TRACKED_KEYS, now });
    aedes.authenticate = (client, username, password, done) => {
      const verdict = this.authenticate(client.id, username ?? "", password?.toString("utf8") ?? "");
      if ("returnCode" in verdict) return this.refuseConnect(client.id, verdict, (error) => done(error, false));
      this.sessions.set(client, verdict);
      if (verdict.kind === "registered") options.registry.connected(verdict);
      done(null, true);
    };
    aedes.on("client", (client) => {
      const session = this.sessions.get(client);
      if (session) this.live.set(client.id, { client, session });
    });
    aedes.on("clientDisconnect", (client) => {
      if (this.live.get(client.id)?.client === client) this.live.delete(client.id);
    });
    this.sweeper = setInterval(() => this.closeInvalidSessions(), options.sweepIntervalMs ?? 1000);
    this.sweeper.unref();
    aedes.authorizeSubscribe = (client, sub: Subscription, done) => {
      const session = this.sessions.get(client);
      const allowed = session !== undefined && maySubscribe(session, sub.topic);
      if (!allowed) options.log(`subscribe refused: client ${client.id} topic ${sub.topic}`);
      done(null, allowed ? sub : null);
    };
    aedes.authorizePublish = (client, packet, done) => {
      try {
        this.authorizePublish(client, packet);
        done(null);
      } catch (error) {
        options.log(`publish refused, session closed: client ${client?.id} topic ${packet.topic}: ${(error as Error).message}`);
        done(error as Error);
      }
    };
    aedes.authorizeForward = (_client, packet: AedesPublishPacket) => (isDeviceToPlatform(packet.topic) ? null : packet);
    aedes.published = (packet, client, done) => {
      const session = client ? this.sessions.get(client) : undefined;
      if (session && levelUnder(packet.topic, `${rootOf(session)}/req`) !== undefined) this.handleRequest(session, packet);
      done(null);
    };
  }

  static async create(options: BrokerOptions): Promise<Broker> {
    const aedes = await Aedes.createBroker({ maxClientsIdLength: MAX_CLIENT_ID_LENGTH, drainTimeout: 30_000 });
    return new Broker(aedes, options);
  }

  /** Publishes a reply (QoS 1) to a provisioning client: used for pushes, with `rid: null`. */
  pushToProvisioningClient(clientId: string, reply: Reply): void {
    this.publish(`prov/${clientId}/res/complete`, { rid: null, ...reply });
  }

  /**
   * Closes a device's registered session at once, if it has one, and forgets its recent
   * messages (after revocation or deletion).
   */
  closeDevice(workspaceId: string, deviceId: string): void {
    this.recentMessages.delete(`${workspaceId}:${deviceId}`);
    this.closeWhere((session) => session.kind === "registered" && session.workspaceId === workspaceId && session.deviceId === deviceId);
  }

  /** Closes the provisioning sessions opened with a provisioning token (after its revocation). */
  closeProvisioningToken(provisioningTokenId: string): void {
    this.closeWhere((session) => session.kind === "provisioning" && session.provisioningTokenId === provisioningTokenId);
  }

  close(): Promise<void> {
    clearInterval(this.sweeper);
    return new Promise((resolve) => this.aedes.close(() => resolve()));
  }

  private closeWhere(match: (session: Session) => boolean): void {
    for (const [clientId, { client, session }] of this.live) {
      if (!match(session)) continue;
      this.live.delete(clientId);
      this.options.log(`session closed: client ${clientId}`);
      client.close();
    }
  }

  /** Ends registered sessions whose token expired, was revoked, or ran out of grace. */
  private closeInvalidSessions(): void {
    const now = this.options.now();
    this.closeWhere((session) => session.kind === "registered" && now >= this.options.registry.validUntil(session.tokenId));
  }

  private refuseConnect(clientId: string, refusal: Refusal, done: (error: ReturnType<typeof refuse>) => void): void {
    const keys = [`client:${clientId}`];
    if (refusal.provisioningTokenId !== undefined) keys.push(`token:${refusal.provisioningTokenId}`);
    // Every key counts the failure, so take them all before deciding.
    const overLimit = keys.map((key) => this.failedConnects.take(key)).some((retryAfter) => retryAfter > 0);
    this.options.log(`connect refused: client ${clientId} (code ${refusal.returnCode})${overLimit ? ", delayed" : ""}`);
    if (!overLimit || this.delayedRefusals >= MAX_DELAYED_REFUSALS) return done(refuse(refusal.returnCode));
    this.delayedRefusals++;
    setTimeout(() => {
      this.delayedRefusals--;
      done(refuse(refusal.returnCode));
    }, FAILED_CONNECT_DELAY_MS).unref();
  }

  private authenticate(clientId: string, username: string, password: string): Session | Refusal {
    if (username !== "provisioning") {
      const registered = this.options.registry.authenticate(clientId, username, password);
      return typeof registered === "number" ? { returnCode: registered } : { kind: "registered", ...registered };
    }
    if (!PROVISIONING_CLIENT_ID_PATTERN.test(clientId)) return { returnCode: NOT_AUTHORIZED };
    const token = this.options.tokens.byToken(password);
    if (!token) return { returnCode: BAD_USERNAME_OR_PASSWORD };
    const refusal = tokenRefusal(token, this.options.now());
    // A device whose approval took the token's last use may still come back to fetch it.
    const mayFetch = refusal !== "revoked" && this.options.operations.hasUnfetchedApproval(clientId, token.id);
    if (refusal && !mayFetch) return { returnCode: NOT_AUTHORIZED, provisioningTokenId: token.id };
    return { kind: "provisioning", clientId, provisioningTokenId: token.id };
  }

  private authorizePublish(client: Client | null, packet: PublishPacket): void {
    const session = client ? this.sessions.get(client) : undefined;
    if (!session) throw new Error("no session");
    if (packet.retain) throw new Error("retained messages are not allowed");
    const root = rootOf(session);
    if (levelUnder(packet.topic, `${root}/req`) !== undefined) return;
    const stream = session.kind === "registered" ? levelUnder(packet.topic, `${root}/msg`) : undefined;
    if (stream === undefined) throw new Error("topic not allowed");
    if (!STREAM_PATTERN.test(stream)) throw new Error("invalid stream name");
    const payload = Buffer.from(packet.payload);
    if (payload.length > MAX_MESSAGE_BYTES) throw new Error(`message larger than ${MAX_MESSAGE_BYTES} bytes`);
    this.storeOnce(session as RegisteredSession, stream, payload, packet);
  }

  /** Stores a message before aedes sends the PUBACK (it means durably stored), unless it is a resend of one stored. */
  private storeOnce(session: RegisteredSession, stream: string, payload: Buffer, packet: PublishPacket): void {
    const { messageId } = packet;
    if (messageId === undefined) return this.options.registry.storeMessage(session, stream, payload);
    const device = `${session.workspaceId}:${session.deviceId}`;
    const digest = RecentMessages.digest(stream, payload);
    let recent = this.recentMessages.get(device);
    if (packet.dup && recent?.has(messageId, digest)) return;
    this.options.registry.storeMessage(session, stream, payload);
    if (!recent) this.recentMessages.set(device, (recent = new RecentMessages()));
    recent.add(messageId, digest);
  }

  private handleRequest(session: Session, packet: AedesPublishPacket): void {
    const kind = packet.topic.slice(packet.topic.lastIndexOf("/") + 1);
    const resTopic = `${rootOf(session)}/res/${kind}`;
    const parsed = parseRequest(packet.payload as Buffer);
    if (!parsed.ok) return this.publish(resTopic, { rid: parsed.rid, ...errorBody(parsed.error) });
    const { rid, body } = parsed.request;
    let reply: Reply;
    try {
      reply = this.serve(session, kind, body);
    } catch (error) {
      if (!(error instanceof PlatformError)) {
        this.options.log(`internal error on ${kind} from ${packet.topic}: ${(error as Error).stack}`);
      }
      reply = errorBody(error instanceof PlatformError ? error : new PlatformError(500, "internal-error", "internal error"));
    }
    this.publish(resTopic, { rid, ...reply });
  }

  private serve(session: Session, kind: string, body: Record<string, unknown>): Reply {
    const { operations, registry } = this.options;
    if (session.kind === "provisioning") {
      if (kind === "init") return operations.init(session, body);
      if (kind === "complete") return operations.complete(session, body);
    } else if (kind === "token") {
      if (body.op === "status") return { status: 200, expiresIn: registry.expiresIn(session.tokenId) };
      if (body.op === "refresh") {
        const retryAfter = this.refreshes.take(`${session.workspaceId}:${session.deviceId}`);
        if (retryAfter) throw new PlatformError(429, "rate-limited", "too many refreshes", retryAfter);
        return { status: 200, ...registry.refresh(session, this.options.tokenGraceS ?? DEFAULT_TOKEN_GRACE_S) };
      }
      throw new PlatformError(400, "invalid-request", `unsupported token op ${JSON.stringify(body.op)?.slice(0, 40)}`);
    }
    throw new PlatformError(404, "unknown-request", `no request ${kind}`);
  }

  private publish(topic: string, body: Record<string, unknown>): void {
    const packet = { cmd: "publish", topic, payload: Buffer.from(JSON.stringify(body)), qos: 1, retain: false, dup: false } as const;
    this.aedes.publish(packet as PublishPacket, (error) => {
      if (error) this.options.log(`reply on ${topic} failed: ${error.message}`);
    });
  }
}

/**
 * The MQTT side of the platform: an aedes broker whose hooks enforce the topic ACLs of
 * docs/protocol.md 1 and 2, hand control requests to the service, and store messages before their PUBACK.
 * It also ends sessions whose credential stopped being valid (expiry, grace, revocation) and
 * slows down clients and provisioning tokens that keep failing at CONNECT.
 */
import type { PlatformEvents } from "./events";
import {
  Aedes,
  type AedesPublishPacket,
  type Client,
  type ConnectPacket,
  type PublishPacket,
  type Subscription,
} from "aedes";
import type { Socket } from "node:net";
import { ConnectionsPerAddress, DEFAULT_INGRESS_LIMITS, IngressStream, type IngressLimits } from "./ingress";
import type { IncomingMessage, MessageWriter } from "./message-writer";
import { DeviceRate, type DeviceRateLimits } from "./device-rate";
import { printable } from "./log-text";
import type { Operations, Reply } from "./operations";
import { PROVISIONING_CLIENT_ID_PATTERN } from "./protocol";
import { SlowedRefusals } from "./rate-limit";
import { tokenRefusal, type ProvisioningTokens } from "./provisioning-tokens";
import {
  BAD_USERNAME_OR_PASSWORD,
  MAX_MESSAGE_BYTES,
  NOT_AUTHORIZED,
  type Registry,
  type DeviceSession,
} from "./registry";
import type { ControlRequests } from "./control-requests";
import { isDeviceToPlatform, mayPublish, maySubscribe, type Session } from "./topic-access";

/** Where the platform writes its log, a line at a time. */
export type LogLine = (line: string) => void;

const deviceOf = ({ workspaceId, deviceId }: DeviceSession) => ({ workspaceId, deviceId });

export interface BrokerOptions {
  tokens: ProvisioningTokens;
  operations: Operations;
  registry: Registry;
  now: () => number;
  log: LogLine;
  /** Told when a registered device connects and disconnects. */
  events: PlatformEvents;
  /** Answers the devices' control requests. */
  requests: ControlRequests;
  /** How often registered sessions are checked against their token's validity. Default 1000 ms. */
  sweepIntervalMs?: number;
  /** Bounds on what a connection may send; defaults in DEFAULT_INGRESS_LIMITS. */
  ingress?: Partial<IngressLimits>;
  /** Stores device messages before they are acknowledged. */
  writer: MessageWriter;
  /** How fast one device's messages are taken; defaults in DEFAULT_DEVICE_RATE. */
  deviceRate?: Partial<DeviceRateLimits>;
}

/** Time a connection has to send its CONNECT. */
const CONNECT_TIMEOUT_MS = 10_000;
/**
 * Keep-alive a provisioning session must ask for, in seconds: without one (0) an idle session is
 * held for ever, and too long a one lets a dead session hold its client ID (only one may be live).
 */
export const PROVISIONING_KEEPALIVE_S = { min: 5, max: 300 };
const IDENTIFIER_REJECTED_CODE = 2;
/** The database did not answer: the device retries later. */
const SERVER_UNAVAILABLE = 3;

/** A refused CONNECT: the CONNACK code, why in words, and the provisioning token it presented when known. */
interface Refusal {
  returnCode: number;
  reason?: string;
  provisioningTokenId?: string;
}

/** Registered client IDs are "{workspaceId}:{deviceId}": up to about 120 characters. */
const MAX_CLIENT_ID_LENGTH = 128;

const refusalText: Record<number, string> = {
  [IDENTIFIER_REJECTED_CODE]: "identifier rejected",
  [BAD_USERNAME_OR_PASSWORD]: "bad username or password",
  [NOT_AUTHORIZED]: "not authorized",
};

function refuse(returnCode: number): Error & { returnCode: number } {
  return Object.assign(new Error(refusalText[returnCode] ?? "refused"), { returnCode });
}

export class Broker {
  readonly aedes: Aedes;
  readonly #sessions = new WeakMap<Client, Session>();
  /** What each client's CONNECT asked for, kept from preConnect for authenticate. */
  readonly #keepalives = new WeakMap<Client, number>();
  readonly #connections: ConnectionsPerAddress;
  readonly #ingress: IngressLimits;
  readonly #deviceRate: DeviceRate;
  /** Connected clients by client ID, as aedes registered them (a takeover replaces the entry). */
  readonly #live = new Map<string, { client: Client; session: Session }>();
  readonly #refusals: SlowedRefusals;
  /** A check of the live sessions' tokens is under way (the next waits for it). */
  #sweeping = false;
  readonly #sweeper: NodeJS.Timeout;
  readonly #options: BrokerOptions;

  private constructor(aedes: Aedes, options: BrokerOptions) {
    this.#options = options;
    this.aedes = aedes;
    const now = options.now;
    this.#ingress = { ...DEFAULT_INGRESS_LIMITS, ...options.ingress };
    this.#connections = new ConnectionsPerAddress(this.#ingress.connectionsPerAddress);
    this.#deviceRate = new DeviceRate(options.deviceRate, now);
    this.#refusals = new SlowedRefusals(now);
    aedes.preConnect = (client, packet: ConnectPacket, done) => {
      this.#keepalives.set(client, packet.keepalive ?? 0);
      done(null, true);
    };
    aedes.authenticate = (client, username, password, done) => {
      const conn = client.conn as unknown as IngressStream;
      this.#authenticate(client, username ?? "", password?.toString("utf8") ?? "", conn.remoteAddress ?? "")
        .then(async (verdict) => {
          if ("returnCode" in verdict) return this.#refuseConnect(client.id, verdict, (error) => done(error, false));
          if (verdict.kind === "registered") await options.registry.connected(verdict);
          // The connection may have gone while the database answered: nothing to admit then.
          if (conn.destroyed) return done(refuse(NOT_AUTHORIZED), false);
          this.#admit(client, conn, verdict);
          done(null, true);
        })
        .catch((error: Error) => {
          options.log(`connect refused: client ${printable(client.id)}: ${error.message}`);
          done(refuse(SERVER_UNAVAILABLE), false);
        });
    };
    this.#sweeper = setInterval(() => void this.#closeInvalidSessions(), options.sweepIntervalMs ?? 1000);
    this.#sweeper.unref();
    aedes.authorizeSubscribe = (client, sub: Subscription, done) => {
      const session = this.#sessions.get(client);
      const allowed = session !== undefined && maySubscribe(session, sub.topic, true);
      if (!allowed) options.log(`subscribe refused: client ${printable(client.id)} topic ${printable(sub.topic)}`);
      done(null, allowed ? sub : null);
    };
    aedes.authorizePublish = (client, packet, done) => {
      let message: IncomingMessage | undefined;
      try {
        message = this.#authorizePublish(client, packet);
      } catch (error) {
        options.log(
          `publish refused, session closed: client ${printable(client?.id)} topic ${printable(packet.topic)}: ${(error as Error).message}`,
        );
        return done(error as Error);
      }
      if (!message) return done(null);
      // aedes sends the PUBACK when `done` is called: only once the message is durable. A device
      // over its rate waits for it, and its connection is read no further meanwhile.
      const store = () =>
        options.writer.store(message, (error) => {
          if (error)
            options.log(`message not stored, session closed: client ${printable(client?.id)}: ${error.message}`);
          done(error);
        });
      const delayMs = this.#deviceRate.delayMs(`${message.workspaceId}:${message.deviceId}`, message.payload.length);
      if (delayMs > 0) setTimeout(store, delayMs);
      else store();
    };
    aedes.authorizeForward = (_client, packet: AedesPublishPacket) =>
      isDeviceToPlatform(packet.topic) ? null : packet;
    aedes.published = (packet, client, done) => {
      const session = client ? this.#sessions.get(client) : undefined;
      const publication = session && mayPublish(session, packet.topic, true);
      if (session && publication && "request" in publication)
        void this.#handleRequest(session, { root: publication.root, kind: publication.request }, packet);
      done(null);
    };
  }

  static async create(options: BrokerOptions): Promise<Broker> {
    const aedes = await Aedes.createBroker({
      maxClientsIdLength: MAX_CLIENT_ID_LENGTH,
      drainTimeout: 30_000,
      connectTimeout: CONNECT_TIMEOUT_MS,
    });
    return new Broker(aedes, options);
  }

  /** Serves one accepted TCP or TLS connection: bounded per address, its packets checked before aedes buffers them. */
  handle(socket: Socket): void {
    const address = printable(socket.remoteAddress);
    if (!this.#connections.admit(socket)) {
      this.#options.log(
        `connection refused: ${address} holds ${this.#ingress.connectionsPerAddress} connections already`,
      );
      socket.destroy();
      return;
    }
    socket.on("error", () => undefined);
    const stream = new IngressStream(socket, this.#ingress, (reason) =>
      this.#options.log(`connection closed: ${address} sent ${reason}`),
    );
    this.aedes.handle(stream);
  }

  /** Publishes a reply (QoS 1) to a provisioning client: used for pushes, with `rid: null`. */
  pushToProvisioningClient(clientId: string, reply: Reply): void {
    this.#publish(`prov/${clientId}/res/complete`, { rid: null, ...reply });
  }

  /** Whether the device has a registered session open now. */
  isConnected(workspaceId: string, deviceId: string): boolean {
    return this.#live.get(`${workspaceId}:${deviceId}`)?.session.kind === "registered";
  }

  /** Closes a device's registered session at once, if it has one (after revocation or deletion). */
  closeDevice(workspaceId: string, deviceId: string): void {
    this.#closeWhere(
      (session) =>
        session.kind === "registered" && session.workspaceId === workspaceId && session.deviceId === deviceId,
    );
  }

  /** Closes the provisioning sessions opened with a provisioning token (after its revocation). */
  closeProvisioningToken(provisioningTokenId: string): void {
    this.#closeWhere(
      (session) => session.kind === "provisioning" && session.provisioningTokenId === provisioningTokenId,
    );
  }

  close(): Promise<void> {
    clearInterval(this.#sweeper);
    return new Promise((resolve) => this.aedes.close(() => resolve()));
  }

  #closeWhere(match: (session: Session) => boolean): void {
    for (const [clientId, { client, session }] of this.#live) {
      if (!match(session)) continue;
      this.#live.delete(clientId);
      this.#options.log(`session closed: client ${printable(clientId)}`);
      client.close();
    }
  }

  /** Ends registered sessions whose token expired, was revoked, or ran out of grace. */
  async #closeInvalidSessions(): Promise<void> {
    if (this.#sweeping) return;
    this.#sweeping = true;
    try {
      const tokenIds = [...this.#live.values()].flatMap(({ session }) =>
        session.kind === "registered" ? [session.tokenId] : [],
      );
      if (tokenIds.length === 0) return;
      const validUntil = await this.#options.registry.validUntilEach(tokenIds);
      const now = this.#options.now();
      this.#closeWhere((session) => session.kind === "registered" && now >= (validUntil.get(session.tokenId) ?? 0));
    } catch (error) {
      this.#options.log(`session check failed, tried again in a moment: ${(error as Error).message}`);
    } finally {
      this.#sweeping = false;
    }
  }

  /** Opens an authenticated session: live from now on (a second provisioning CONNECT with this client ID is refused until it ends). */
  #admit(client: Client, conn: IngressStream, session: Session): void {
    this.#sessions.set(client, session);
    this.#live.set(client.id, { client, session });
    conn.once("close", () => {
      if (this.#live.get(client.id)?.client === client) this.#live.delete(client.id);
      if (session.kind === "registered")
        this.#options.events.emit({ type: "device-disconnected", device: deviceOf(session) });
    });
    if (session.kind === "registered")
      this.#options.events.emit({ type: "device-connected", device: deviceOf(session) });
    conn.authenticated = true;
  }

  #refuseConnect(clientId: string, refusal: Refusal, done: (error: ReturnType<typeof refuse>) => void): void {
    const keys = [`client:${clientId}`];
    if (refusal.provisioningTokenId !== undefined) keys.push(`token:${refusal.provisioningTokenId}`);
    const held = this.#refusals.refuse(keys, () => done(refuse(refusal.returnCode)));
    this.#options.log(
      `connect refused: client ${printable(clientId)} (code ${refusal.returnCode}${refusal.reason ? `: ${refusal.reason}` : ""})${held ? ", delayed" : ""}`,
    );
  }

  async #authenticate(client: Client, username: string, password: string, address: string): Promise<Session | Refusal> {
    const clientId = client.id;
    if (username !== "provisioning") {
      const registered = await this.#options.registry.authenticate(clientId, username, password);
      return typeof registered === "number" ? { returnCode: registered } : { kind: "registered", ...registered };
    }
    if (!PROVISIONING_CLIENT_ID_PATTERN.test(clientId))
      return { returnCode: NOT_AUTHORIZED, reason: "not a provisioning client ID" };
    const token = await this.#options.tokens.byToken(password);
    if (!token) return { returnCode: BAD_USERNAME_OR_PASSWORD, reason: "unknown provisioning token" };
    const refusal = tokenRefusal(token, this.#options.now());
    // A device whose approval took the token's last use may still come back to fetch it.
    const mayFetch =
      refusal !== undefined &&
      refusal !== "revoked" &&
      (await this.#options.operations.hasUnfetchedApproval(clientId, token.id));
    if (refusal && !mayFetch)
      return { returnCode: NOT_AUTHORIZED, reason: `provisioning token ${refusal}`, provisioningTokenId: token.id };
    const keepalive = this.#keepalives.get(client) ?? 0;
    if (keepalive < PROVISIONING_KEEPALIVE_S.min || keepalive > PROVISIONING_KEEPALIVE_S.max)
      return {
        returnCode: NOT_AUTHORIZED,
        reason: `keep-alive ${keepalive} s, not ${PROVISIONING_KEEPALIVE_S.min}-${PROVISIONING_KEEPALIVE_S.max}`,
      };
    // Anyone with the fleet's token can compute nothing about a device, but can read its client ID
    // off plain MQTT: taking its session over would let them answer for it. The device's own
    // reconnect after a silent link loss waits until the old session's keep-alive runs out.
    if (this.#live.get(clientId)?.session.kind === "provisioning")
      return { returnCode: IDENTIFIER_REJECTED_CODE, reason: "a provisioning session with this client ID is live" };
    return { kind: "provisioning", clientId, provisioningTokenId: token.id, address };
  }

  /** Checks a PUBLISH against the session's rights: the message to store, or undefined for a request. Throws to refuse. */
  #authorizePublish(client: Client | null, packet: PublishPacket): IncomingMessage | undefined {
    const session = client ? this.#sessions.get(client) : undefined;
    if (!session) throw new Error("no session");
    if (packet.retain) throw new Error("retained messages are not allowed");
    const publication = mayPublish(session, packet.topic, true);
    if ("refused" in publication) throw new Error(publication.refused);
    if ("request" in publication || session.kind !== "registered") return undefined;
    const { stream } = publication;
    const payload = Buffer.from(packet.payload);
    if (payload.length > MAX_MESSAGE_BYTES) throw new Error(`message larger than ${MAX_MESSAGE_BYTES} bytes`);
    const message: IncomingMessage = {
      workspaceId: session.workspaceId,
      deviceId: session.deviceId,
      stream,
      payload,
      receivedAt: this.#options.now(),
    };
    // v2 names the message's id in its topic; v1's resends are known by their packet id.
    const messageId = publication.messageId ?? packet.messageId;
    if (messageId !== undefined) Object.assign(message, { messageId, dup: packet.dup });
    return message;
  }

  async #handleRequest(
    session: Session,
    request: { root: string; kind: string },
    packet: AedesPublishPacket,
  ): Promise<void> {
    const { topic, body } = await this.#options.requests.answer(session, request, packet.payload as Buffer);
    this.#publish(topic, body);
  }

  #publish(topic: string, body: Record<string, unknown>): void {
    const packet = {
      cmd: "publish",
      topic,
      payload: Buffer.from(JSON.stringify(body)),
      qos: 1,
      retain: false,
      dup: false,
    } as const;
    this.aedes.publish(packet, (error) => {
      if (error) this.#options.log(`reply on ${topic} failed: ${error.message}`);
    });
  }
}

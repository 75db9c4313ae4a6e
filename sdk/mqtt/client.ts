/**
 * The MQTT 3.1.1 client session: connect, keep-alive, QoS 0/1 in both directions, reconnect with
 * backoff. Sans-I/O: bytes go through the Transport port, time through the Clock port, with one
 * wake-up timer at a time whose deadline is recomputed from the state when it fires.
 */
import { Backoff, type BackoffOptions } from "../backoff";
import {
  silentLog,
  type Clock,
  type DevicePorts,
  type LinkFailure,
  type Log,
  type TimerHandle,
  type TransportConnection,
} from "../ports";
import { ticksAdd, ticksBetween, ticksUntil } from "../ticks";
import { PacketDecoder } from "./decoder";
import { encode } from "./encode";
import { LinkError, MqttConnectError, MqttProtocolError } from "./errors";
import type { ClientPacket, PublishPacket, ServerPacket, SubackPacket, Subscription, Will } from "./packets";
import { CodedError } from "../errors";

export type MqttClientState = "stopped" | "connecting" | "connected" | "waiting";

export type MqttClientErrorCode =
  | "stopped"
  | "not-connected"
  | "inflight-full"
  | "invalid-message-id"
  | "connect-timeout"
  | "keepalive-timeout"
  | "connection-closed";

export class MqttClientError extends CodedError<MqttClientErrorCode> {
  override name = "MqttClientError";
}

export interface MqttClientOptions extends DevicePorts {
  clientId: string;
  username?: string;
  password?: Uint8Array;
  /** Seconds, default 60; 0 disables pings. */
  keepalive?: number;
  /** Default true; false = persistent session: unacked QoS 1 publishes are resent with dup=true after reconnect. */
  clean?: boolean;
  will?: Will;
  /** TCP open + CONNACK, default 10000 ms. */
  connectTimeoutMs?: number;
  /** Default 1 s .. 5 min, full jitter. */
  reconnect?: BackoffOptions;
  /** QoS 1 publishes awaiting PUBACK (sent or queued), and separately SUBACK/UNSUBACK; default 16. */
  maxInflight?: number;
  /** Incoming packet limit, default 8192. */
  maxPacketSize?: number;
  onStateChange?: (state: MqttClientState) => void;
  /** After CONNACK 0: (re)subscribe here when clean. */
  onConnect?: (sessionPresent: boolean) => void;
  /**
   * QoS 0/1; the PUBACK of a QoS 1 message is sent after this returns. `payload` may be a view of
   * the transport's buffer, valid only during the call: copy it to keep it.
   */
  onMessage?: (topic: string, payload: Uint8Array, packet: PublishPacket) => void;
  /**
   * A connected or connecting link ended (a LinkError from the transport, an MqttClientError,
   * MqttConnectError or MqttProtocolError): the client connects again in `retryInMs`.
   */
  onConnectionLost?: (error: Error, retryInMs: number) => void;
  /** Stopped for good: by stop() (undefined) or by CONNACK 4/5 (MqttConnectError). */
  onStop?: (error: Error | undefined) => void;
}

type Done = (error: Error | undefined, granted?: number[]) => void;

/**
 * The packet ids a caller may choose for QoS 1 messages that outlive one client (a persisted
 * queue keeps each message's id, so the platform can tell a resend from a new message); the client
 * numbers its own packets below them.
 */
export const queuedMessageIds = Object.freeze({ first: 0x8000, last: 0xffff } as const);

interface Outgoing {
  packet: PublishPacket;
  /** Written at least once: a later copy carries dup=true. */
  sent: boolean;
  callback: Done | undefined;
}

export class MqttClient {
  readonly #options: MqttClientOptions;
  readonly #log: Log;
  readonly #clock: Clock;
  readonly #backoff: Backoff;
  readonly #keepaliveMs: number;
  readonly #maxInflight: number;
  #username: string | undefined;
  #password: Uint8Array | undefined;
  #state: MqttClientState = "stopped";
  #conn: TransportConnection | undefined;
  /** Identifies the current link: events of an older one are ignored. */
  #linkId = 0;
  /** Connect timeout while connecting, reconnect time while waiting. */
  #deadline = 0;
  #sentAt = 0;
  #heardAt = 0;
  /** When the unanswered PINGREQ went out. */
  #pingAt: number | undefined;
  #timer: TimerHandle | undefined;
  #timerAt = 0;
  #lastId = 0;
  /** Insertion order is send order, kept across reconnects. */
  readonly #inflight = new Map<number, Outgoing>();
  /** SUBSCRIBE/UNSUBSCRIBE awaiting their ack; lost with the link. */
  readonly #requests = new Map<number, Done | undefined>();

  constructor(options: MqttClientOptions) {
    this.#options = options;
    this.#log = options.log ?? silentLog;
    this.#clock = options.clock;
    this.#backoff = new Backoff(options.random, options.reconnect);
    this.#keepaliveMs = (options.keepalive ?? 60) * 1000;
    // Both maps together stay far below 65535 ids, so a free packet id always exists.
    this.#maxInflight = Math.min(options.maxInflight ?? 16, 16384);
    this.#username = options.username;
    this.#password = options.password;
  }

  get state(): MqttClientState {
    return this.#state;
  }

  /** Begins connecting; reconnects with backoff after failures until stop() or CONNACK 4/5. */
  start(): void {
    if (this.#state !== "stopped") return;
    this.#backoff.reset();
    this.#open();
  }

  /** DISCONNECT if connected, close, cancel the timer, fail pending callbacks with "stopped". */
  stop(): void {
    if (this.#state === "stopped") return;
    if (this.#state === "connected") this.#write({ cmd: "disconnect" });
    this.#halt(undefined);
  }

  /**
   * Ends the link and connects again at once, keeping the QoS 1 publishes in flight (resent with
   * dup on the new link): how new credentials take effect without losing a message.
   */
  reconnect(): void {
    if (this.#state === "stopped") return;
    if (this.#state === "connected") this.#write({ cmd: "disconnect" });
    const unanswered = this.#drop();
    this.#open();
    const error = new MqttClientError("connection-closed", "reconnecting");
    for (const callback of unanswered) this.#done(callback, error);
  }

  /** Changes the credentials used by the next CONNECT (token refresh). */
  setCredentials(username: string | undefined, password: Uint8Array | undefined): void {
    this.#username = username;
    this.#password = password;
  }

  /** Only while connected. `granted` holds 0x80 for each refused subscription. */
  subscribe(subscriptions: Subscription[], callback?: (error: Error | undefined, granted?: number[]) => void): void {
    this.#request({ cmd: "subscribe", messageId: 0, subscriptions }, callback);
  }

  unsubscribe(topics: string[], callback?: (error: Error | undefined) => void): void {
    this.#request({ cmd: "unsubscribe", messageId: 0, unsubscriptions: topics }, callback);
  }

  /**
   * QoS 0: written now if connected (else fails with "not-connected"), callback once written.
   * QoS 1: callback on PUBACK; kept across reconnects; queued while disconnected, within maxInflight.
   * A QoS 1 message that outlives this client (a persisted queue) brings its own `messageId`, one
   * of the `queuedMessageIds`, and `dup` when an earlier client may have sent it.
   */
  publish(
    topic: string,
    payload: Uint8Array,
    options: { qos?: 0 | 1; retain?: boolean; messageId?: number; dup?: boolean } = {},
    callback?: (error: Error | undefined) => void,
  ): void {
    const packet: PublishPacket = {
      cmd: "publish",
      topic,
      payload,
      qos: options.qos ?? 0,
      dup: false,
      retain: !!options.retain,
    };
    if (packet.qos === 0) {
      if (this.#state !== "connected") return this.#done(callback, new MqttClientError("not-connected"));
      return this.#done(callback, this.#write(packet));
    }
    if (this.#inflight.size >= this.#maxInflight) return this.#done(callback, new MqttClientError("inflight-full"));
    const id = options.messageId;
    if (id !== undefined && (!(id >= queuedMessageIds.first && id <= queuedMessageIds.last) || this.#inflight.has(id)))
      return this.#done(callback, new MqttClientError("invalid-message-id"));
    packet.messageId = id ?? this.#nextId();
    let bytes: Uint8Array;
    try {
      bytes = encode(packet);
    } catch (e) {
      return this.#done(callback, e as Error);
    }
    const outgoing: Outgoing = { packet, sent: !!options.dup, callback };
    this.#inflight.set(packet.messageId, outgoing);
    if (this.#state !== "connected") return;
    this.#writeBytes(bytes);
    outgoing.sent = true;
  }

  #request(packet: ClientPacket & { messageId: number }, callback: Done | undefined): void {
    if (this.#state !== "connected") return this.#done(callback, new MqttClientError("not-connected"));
    if (this.#requests.size >= this.#maxInflight) return this.#done(callback, new MqttClientError("inflight-full"));
    packet.messageId = this.#nextId();
    const error = this.#write(packet);
    if (error) return this.#done(callback, error);
    this.#requests.set(packet.messageId, callback);
  }

  #nextId(): number {
    do this.#lastId = (this.#lastId % (queuedMessageIds.first - 1)) + 1;
    while (this.#inflight.has(this.#lastId) || this.#requests.has(this.#lastId));
    return this.#lastId;
  }

  #open(): void {
    const id = ++this.#linkId;
    const decoder = new PacketDecoder({ maxPacketSize: this.#options.maxPacketSize ?? 8192 });
    this.#deadline = ticksAdd(this.#clock.now(), this.#options.connectTimeoutMs ?? 10000);
    this.#setState("connecting");
    if (id !== this.#linkId) return; // stopped from onStateChange
    const guard =
      <A extends unknown[]>(handle: (...args: A) => void) =>
      (...args: A): void =>
        this.#guard(() => id === this.#linkId && handle(...args));
    try {
      this.#conn = this.#options.transport.connect({
        onOpen: guard(() => this.#connect()),
        onData: guard((bytes: Uint8Array) => {
          const error = decoder.push(bytes, (packet) => id === this.#linkId && this.#receive(packet, id));
          if (error && id === this.#linkId) this.#lose(error);
        }),
        onClose: guard((reason: LinkFailure, message?: string) => {
          this.#conn = undefined;
          this.#lose(new LinkError(reason, message ?? reason));
        }),
      });
    } catch (e) {
      return this.#lose(e as Error);
    }
    this.#wake();
  }

  #connect(): void {
    const error = this.#write({
      cmd: "connect",
      protocolId: "MQTT",
      protocolVersion: 4,
      clientId: this.#options.clientId,
      clean: this.#options.clean ?? true,
      keepalive: this.#keepaliveMs / 1000,
      username: this.#username,
      password: this.#password,
      will: this.#options.will,
    });
    // A CONNECT that cannot be encoded never will be: retrying would only loop.
    if (error) this.#halt(error);
  }

  #receive(packet: ServerPacket, id: number): void {
    this.#heardAt = this.#clock.now();
    this.#pingAt = undefined;
    if (this.#state === "connecting") {
      if (packet.cmd !== "connack") return this.#lose(unexpected(packet));
      if (packet.returnCode === 0) return this.#connected(packet.sessionPresent);
      const error = new MqttConnectError(packet.returnCode);
      return error.isAuthorizationFailure ? this.#halt(error) : this.#lose(error);
    }
    switch (packet.cmd) {
      case "publish":
        if (packet.qos > 1) return this.#lose(unexpected(packet));
        this.#call("onMessage", this.#options.onMessage, packet.topic, packet.payload, packet);
        if (packet.qos === 1 && id === this.#linkId) this.#write({ cmd: "puback", messageId: packet.messageId! });
        break;
      case "puback": {
        const outgoing = this.#inflight.get(packet.messageId);
        if (!outgoing) break;
        this.#inflight.delete(packet.messageId);
        this.#done(outgoing.callback, undefined);
        break;
      }
      case "suback":
      case "unsuback": {
        if (!this.#requests.has(packet.messageId)) break;
        const callback = this.#requests.get(packet.messageId);
        this.#requests.delete(packet.messageId);
        this.#done(callback, undefined, (packet as SubackPacket).granted);
        break;
      }
      case "pingresp":
        break;
      default:
        return this.#lose(unexpected(packet));
    }
    this.#wake();
  }

  #connected(sessionPresent: boolean): void {
    this.#backoff.reset();
    this.#sentAt = this.#heardAt;
    // Resent before the state changes, so a publish made in onStateChange is not sent twice.
    for (const outgoing of this.#inflight.values()) this.#send(outgoing);
    this.#setState("connected");
    if (this.#state === "connected") this.#call("onConnect", this.#options.onConnect, sessionPresent);
    this.#wake();
  }

  #send(outgoing: Outgoing): void {
    this.#write(outgoing.sent ? { ...outgoing.packet, dup: true } : outgoing.packet);
    outgoing.sent = true;
  }

  /** Encodes and writes; returns the error when the packet cannot be encoded or there is no link. */
  #write(packet: ClientPacket): Error | undefined {
    try {
      return this.#writeBytes(encode(packet));
    } catch (e) {
      return e as Error;
    }
  }

  /** A port that throws on write gets closed: its onClose then reports the loss. */
  #writeBytes(bytes: Uint8Array): Error | undefined {
    const conn = this.#conn;
    if (!conn) return new MqttClientError("not-connected");
    try {
      conn.write(bytes);
      this.#sentAt = this.#clock.now();
    } catch {
      conn.close();
    }
    return undefined;
  }

  /** Ends the current link, if any; returns the callbacks of the SUBSCRIBE/UNSUBSCRIBE it leaves unanswered. */
  #drop(): (Done | undefined)[] {
    const conn = this.#conn;
    this.#conn = undefined;
    this.#linkId++;
    this.#pingAt = undefined;
    conn?.close();
    const callbacks = [...this.#requests.values()];
    this.#requests.clear();
    return callbacks;
  }

  /** The link failed: wait, then reconnect. */
  #lose(error: Error): void {
    const unanswered = this.#drop();
    const delayMs = this.#backoff.next();
    this.#deadline = ticksAdd(this.#clock.now(), delayMs);
    this.#log.write("warn", "mqtt-link-lost", { error: error.message, retryInMs: delayMs });
    this.#setState("waiting");
    this.#wake();
    for (const callback of unanswered) this.#done(callback, error);
    this.#call("onConnectionLost", this.#options.onConnectionLost, error, delayMs);
  }

  /** Stopped for good: every pending callback fails with "stopped". */
  #halt(error: Error | undefined): void {
    const unanswered = this.#drop();
    for (const outgoing of this.#inflight.values()) unanswered.push(outgoing.callback);
    this.#inflight.clear();
    if (error) this.#log.write("error", "mqtt-refused", { error: error.message });
    this.#setState("stopped");
    this.#wake();
    const stopped = new MqttClientError("stopped");
    for (const callback of unanswered) this.#done(callback, stopped);
    this.#call("onStop", this.#options.onStop, error);
  }

  #setState(state: MqttClientState): void {
    if (this.#state === state) return;
    this.#state = state;
    this.#log.write("info", "mqtt-state", { state });
    this.#call("onStateChange", this.#options.onStateChange, state);
  }

  /** The next moment something is due in the current state. */
  #due(): number | undefined {
    if (this.#state === "connecting" || this.#state === "waiting") return this.#deadline;
    if (this.#state !== "connected" || !this.#keepaliveMs) return undefined;
    if (this.#pingAt !== undefined) return ticksAdd(this.#pingAt, this.#keepaliveMs * 1.5);
    // Quiet in either direction for a keep-alive period: probe, so a dead link is found even while publishing.
    const idleSince = ticksBetween(this.#sentAt, this.#heardAt) < 0 ? this.#heardAt : this.#sentAt;
    return ticksAdd(idleSince, this.#keepaliveMs);
  }

  /** Keeps one timer armed at or before the next due moment; an early wake-up just re-arms. */
  #wake(): void {
    const due = this.#due();
    if (this.#timer !== undefined) {
      if (due !== undefined && ticksBetween(this.#timerAt, due) >= 0) return;
      this.#clock.clearTimer(this.#timer);
      this.#timer = undefined;
    }
    if (due === undefined) return;
    this.#timerAt = due;
    this.#timer = this.#clock.setTimer(ticksUntil(this.#clock.now(), due), () =>
      this.#guard(() => {
        this.#timer = undefined;
        this.#onTimer();
      }),
    );
  }

  #onTimer(): void {
    const due = this.#due();
    if (due !== undefined && ticksUntil(this.#clock.now(), due) === 0) {
      if (this.#state === "connecting") return this.#lose(new MqttClientError("connect-timeout"));
      if (this.#state === "waiting") return this.#open();
      if (this.#pingAt !== undefined) return this.#lose(new MqttClientError("keepalive-timeout"));
      this.#write({ cmd: "pingreq" });
      this.#pingAt = this.#clock.now();
    }
    this.#wake();
  }

  /** Runs a port callback: a throw must never reach the port's event loop. */
  #guard(run: () => void): void {
    try {
      run();
    } catch (e) {
      this.#log.write("error", "mqtt-internal-error", { error: String(e) });
    }
  }

  #done(callback: Done | undefined, error: Error | undefined, granted?: number[]): void {
    this.#call("callback", callback, error, granted);
  }

  /**
   * Calls the application, as a method of the options it gave (so a callback written with `this`
   * works); what it throws is logged, never propagated into a port.
   */
  #call<A extends unknown[]>(name: string, fn: ((...args: A) => void) | undefined, ...args: A): void {
    if (!fn) return;
    try {
      fn.apply(this.#options, args);
    } catch (e) {
      this.#log.write("error", "callback-threw", { callback: name, error: String(e) });
    }
  }
}

function unexpected(packet: ServerPacket): MqttProtocolError {
  return new MqttProtocolError("unexpected-packet", `unexpected ${packet.cmd}`);
}

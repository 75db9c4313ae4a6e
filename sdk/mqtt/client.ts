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
import { codedErrorClass } from "../errors";

export type MqttClientState = "stopped" | "connecting" | "connected" | "waiting";

export type MqttClientErrorCode =
  | "stopped"
  | "not-connected"
  | "inflight-full"
  | "invalid-message-id"
  | "connect-timeout"
  | "keepalive-timeout"
  | "connection-closed";

export const MqttClientError = codedErrorClass<MqttClientErrorCode>("MqttClientError");
export type MqttClientError = InstanceType<typeof MqttClientError>;

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
  private readonly _options: MqttClientOptions;
  private readonly _log: Log;
  private readonly _clock: Clock;
  private readonly _backoff: Backoff;
  private readonly _keepaliveMs: number;
  private readonly _maxInflight: number;
  private _username: string | undefined;
  private _password: Uint8Array | undefined;
  private _state: MqttClientState = "stopped";
  private _conn: TransportConnection | undefined;
  /** Identifies the current link: events of an older one are ignored. */
  private _linkId = 0;
  /** Connect timeout while connecting, reconnect time while waiting. */
  private _deadline = 0;
  private _sentAt = 0;
  private _heardAt = 0;
  /** When the unanswered PINGREQ went out. */
  private _pingAt: number | undefined;
  private _timer: TimerHandle | undefined;
  private _timerAt = 0;
  private _lastId = 0;
  /** Insertion order is send order, kept across reconnects. */
  private readonly _inflight = new Map<number, Outgoing>();
  /** SUBSCRIBE/UNSUBSCRIBE awaiting their ack; lost with the link. */
  private readonly _requests = new Map<number, Done | undefined>();

  constructor(options: MqttClientOptions) {
    this._options = options;
    this._log = options.log ?? silentLog;
    this._clock = options.clock;
    this._backoff = new Backoff(options.random, options.reconnect);
    this._keepaliveMs = (options.keepalive ?? 60) * 1000;
    // Both maps together stay far below 65535 ids, so a free packet id always exists.
    this._maxInflight = Math.min(options.maxInflight ?? 16, 16384);
    this._username = options.username;
    this._password = options.password;
  }

  get state(): MqttClientState {
    return this._state;
  }

  /** Begins connecting; reconnects with backoff after failures until stop() or CONNACK 4/5. */
  start(): void {
    if (this._state !== "stopped") return;
    this._backoff.reset();
    this._open();
  }

  /** DISCONNECT if connected, close, cancel the timer, fail pending callbacks with "stopped". */
  stop(): void {
    if (this._state === "stopped") return;
    if (this._state === "connected") this._write({ cmd: "disconnect" });
    this._halt(undefined);
  }

  /**
   * Ends the link and connects again at once, keeping the QoS 1 publishes in flight (resent with
   * dup on the new link): how new credentials take effect without losing a message.
   */
  reconnect(): void {
    if (this._state === "stopped") return;
    if (this._state === "connected") this._write({ cmd: "disconnect" });
    const unanswered = this._drop();
    this._open();
    this._doneAll(unanswered, new MqttClientError("connection-closed", "reconnecting"));
  }

  /** Changes the credentials used by the next CONNECT (token refresh). */
  setCredentials(username: string | undefined, password: Uint8Array | undefined): void {
    this._username = username;
    this._password = password;
  }

  /** Only while connected. `granted` holds 0x80 for each refused subscription. */
  subscribe(subscriptions: Subscription[], callback?: (error: Error | undefined, granted?: number[]) => void): void {
    this._request({ cmd: "subscribe", messageId: 0, subscriptions }, callback);
  }

  unsubscribe(topics: string[], callback?: (error: Error | undefined) => void): void {
    this._request({ cmd: "unsubscribe", messageId: 0, unsubscriptions: topics }, callback);
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
      if (this._state !== "connected") return this._done(callback, new MqttClientError("not-connected"));
      return this._done(callback, this._write(packet));
    }
    if (this._inflight.size >= this._maxInflight) return this._done(callback, new MqttClientError("inflight-full"));
    const id = options.messageId;
    if (id !== undefined && (!(id >= queuedMessageIds.first && id <= queuedMessageIds.last) || this._inflight.has(id)))
      return this._done(callback, new MqttClientError("invalid-message-id"));
    packet.messageId = id ?? this._nextId();
    let bytes: Uint8Array;
    try {
      bytes = encode(packet);
    } catch (e) {
      return this._done(callback, e as Error);
    }
    const outgoing: Outgoing = { packet, sent: !!options.dup, callback };
    this._inflight.set(packet.messageId, outgoing);
    if (this._state !== "connected") return;
    this._writeBytes(bytes);
    outgoing.sent = true;
  }

  private _request(packet: ClientPacket & { messageId: number }, callback: Done | undefined): void {
    if (this._state !== "connected") return this._done(callback, new MqttClientError("not-connected"));
    if (this._requests.size >= this._maxInflight) return this._done(callback, new MqttClientError("inflight-full"));
    packet.messageId = this._nextId();
    const error = this._write(packet);
    if (error) return this._done(callback, error);
    this._requests.set(packet.messageId, callback);
  }

  private _nextId(): number {
    do this._lastId = (this._lastId % (queuedMessageIds.first - 1)) + 1;
    while (this._inflight.has(this._lastId) || this._requests.has(this._lastId));
    return this._lastId;
  }

  private _open(): void {
    const id = ++this._linkId;
    const decoder = new PacketDecoder({ maxPacketSize: this._options.maxPacketSize ?? 8192 });
    this._deadline = ticksAdd(this._clock.now(), this._options.connectTimeoutMs ?? 10000);
    this._setState("connecting");
    if (id !== this._linkId) return; // stopped from onStateChange
    const guard =
      <A extends unknown[]>(handle: (...args: A) => void) =>
      (...args: A): void =>
        this._guard(() => id === this._linkId && handle(...args));
    try {
      this._conn = this._options.transport.connect({
        onOpen: guard(() => this._connect()),
        onData: guard((bytes: Uint8Array) => {
          const error = decoder.push(bytes, (packet) => id === this._linkId && this._receive(packet, id));
          if (error && id === this._linkId) this._lose(error);
        }),
        onClose: guard((reason: LinkFailure, message?: string) => {
          this._conn = undefined;
          this._lose(new LinkError(reason, message ?? reason));
        }),
      });
    } catch (e) {
      return this._lose(e as Error);
    }
    this._wake();
  }

  private _connect(): void {
    const error = this._write({
      cmd: "connect",
      protocolId: "MQTT",
      protocolVersion: 4,
      clientId: this._options.clientId,
      clean: this._options.clean ?? true,
      keepalive: this._keepaliveMs / 1000,
      username: this._username,
      password: this._password,
      will: this._options.will,
    });
    // A CONNECT that cannot be encoded never will be: retrying would only loop.
    if (error) this._halt(error);
  }

  private _receive(packet: ServerPacket, id: number): void {
    this._heardAt = this._clock.now();
    this._pingAt = undefined;
    if (this._state === "connecting") {
      if (packet.cmd !== "connack") return this._lose(unexpected(packet));
      if (packet.returnCode === 0) return this._connected(packet.sessionPresent);
      const error = new MqttConnectError(packet.returnCode);
      return error.isAuthorizationFailure ? this._halt(error) : this._lose(error);
    }
    switch (packet.cmd) {
      case "publish":
        if (packet.qos > 1) return this._lose(unexpected(packet));
        this._call("onMessage", this._options.onMessage, packet.topic, packet.payload, packet);
        if (packet.qos === 1 && id === this._linkId) this._write({ cmd: "puback", messageId: packet.messageId! });
        break;
      case "puback": {
        const outgoing = this._inflight.get(packet.messageId);
        if (!outgoing) break;
        this._inflight.delete(packet.messageId);
        this._done(outgoing.callback, undefined);
        break;
      }
      case "suback":
      case "unsuback": {
        if (!this._requests.has(packet.messageId)) break;
        const callback = this._requests.get(packet.messageId);
        this._requests.delete(packet.messageId);
        this._done(callback, undefined, (packet as SubackPacket).granted);
        break;
      }
      case "pingresp":
        break;
      default:
        return this._lose(unexpected(packet));
    }
    this._wake();
  }

  private _connected(sessionPresent: boolean): void {
    this._backoff.reset();
    this._sentAt = this._heardAt;
    // Resent before the state changes, so a publish made in onStateChange is not sent twice.
    // forEach, not for-of: XS compiles for-of into the iterator protocol, 100 bytes more each.
    this._inflight.forEach((outgoing) => this._send(outgoing));
    this._setState("connected");
    if (this._state === "connected") this._call("onConnect", this._options.onConnect, sessionPresent);
    this._wake();
  }

  private _send(outgoing: Outgoing): void {
    this._write(outgoing.sent ? { ...outgoing.packet, dup: true } : outgoing.packet);
    outgoing.sent = true;
  }

  /** Encodes and writes; returns the error when the packet cannot be encoded or there is no link. */
  private _write(packet: ClientPacket): Error | undefined {
    try {
      return this._writeBytes(encode(packet));
    } catch (e) {
      return e as Error;
    }
  }

  /** A port that throws on write gets closed: its onClose then reports the loss. */
  private _writeBytes(bytes: Uint8Array): Error | undefined {
    const conn = this._conn;
    if (!conn) return new MqttClientError("not-connected");
    try {
      conn.write(bytes);
      this._sentAt = this._clock.now();
    } catch {
      conn.close();
    }
    return undefined;
  }

  /** Ends the current link, if any; returns the callbacks of the SUBSCRIBE/UNSUBSCRIBE it leaves unanswered. */
  private _drop(): (Done | undefined)[] {
    const conn = this._conn;
    this._conn = undefined;
    this._linkId++;
    this._pingAt = undefined;
    conn?.close();
    const callbacks = Array.from(this._requests.values());
    this._requests.clear();
    return callbacks;
  }

  /** The link failed: wait, then reconnect. */
  private _lose(error: Error): void {
    const unanswered = this._drop();
    const delayMs = this._backoff.next();
    this._deadline = ticksAdd(this._clock.now(), delayMs);
    this._log.write("warn", "mqtt-link-lost", { error: error.message, retryInMs: delayMs });
    this._setState("waiting");
    this._wake();
    this._doneAll(unanswered, error);
    this._call("onConnectionLost", this._options.onConnectionLost, error, delayMs);
  }

  /** Stopped for good: every pending callback fails with "stopped". */
  private _halt(error: Error | undefined): void {
    const unanswered = this._drop();
    this._inflight.forEach((outgoing) => unanswered.push(outgoing.callback));
    this._inflight.clear();
    if (error) this._log.write("error", "mqtt-refused", { error: error.message });
    this._setState("stopped");
    this._wake();
    this._doneAll(unanswered, new MqttClientError("stopped"));
    this._call("onStop", this._options.onStop, error);
  }

  private _setState(state: MqttClientState): void {
    if (this._state === state) return;
    this._state = state;
    this._log.write("info", "mqtt-state", { state });
    this._call("onStateChange", this._options.onStateChange, state);
  }

  /** The next moment something is due in the current state. */
  private _due(): number | undefined {
    if (this._state === "connecting" || this._state === "waiting") return this._deadline;
    if (this._state !== "connected" || !this._keepaliveMs) return undefined;
    if (this._pingAt !== undefined) return ticksAdd(this._pingAt, this._keepaliveMs * 1.5);
    // Quiet in either direction for a keep-alive period: probe, so a dead link is found even while publishing.
    const idleSince = ticksBetween(this._sentAt, this._heardAt) < 0 ? this._heardAt : this._sentAt;
    return ticksAdd(idleSince, this._keepaliveMs);
  }

  /** Keeps one timer armed at or before the next due moment; an early wake-up just re-arms. */
  private _wake(): void {
    const due = this._due();
    if (this._timer !== undefined) {
      if (due !== undefined && ticksBetween(this._timerAt, due) >= 0) return;
      this._clock.clearTimer(this._timer);
      this._timer = undefined;
    }
    if (due === undefined) return;
    this._timerAt = due;
    this._timer = this._clock.setTimer(ticksUntil(this._clock.now(), due), () =>
      this._guard(() => {
        this._timer = undefined;
        this._onTimer();
      }),
    );
  }

  private _onTimer(): void {
    const due = this._due();
    if (due !== undefined && ticksUntil(this._clock.now(), due) === 0) {
      if (this._state === "connecting") return this._lose(new MqttClientError("connect-timeout"));
      if (this._state === "waiting") return this._open();
      if (this._pingAt !== undefined) return this._lose(new MqttClientError("keepalive-timeout"));
      this._write({ cmd: "pingreq" });
      this._pingAt = this._clock.now();
    }
    this._wake();
  }

  /** Runs a port callback: a throw must never reach the port's event loop. */
  private _guard(run: () => void): void {
    try {
      run();
    } catch (e) {
      this._log.write("error", "mqtt-internal-error", { error: String(e) });
    }
  }

  private _done(callback: Done | undefined, error: Error | undefined, granted?: number[]): void {
    this._call("callback", callback, error, granted);
  }

  /** An indexed loop: XS compiles for-of into an iterator protocol about 100 bytes longer. */
  private _doneAll(callbacks: (Done | undefined)[], error: Error): void {
    for (let i = 0; i < callbacks.length; i++) this._done(callbacks[i], error);
  }

  /**
   * Calls the application, as a method of the options it gave (so a callback written with `this`
   * works); what it throws is logged, never propagated into a port.
   */
  private _call<A extends unknown[]>(name: string, fn: ((...args: A) => void) | undefined, ...args: A): void {
    if (!fn) return;
    try {
      fn.apply(this._options, args);
    } catch (e) {
      this._log.write("error", "callback-threw", { callback: name, error: String(e) });
    }
  }
}

function unexpected(packet: ServerPacket): MqttProtocolError {
  return new MqttProtocolError("unexpected-packet", `unexpected ${packet.cmd}`);
}

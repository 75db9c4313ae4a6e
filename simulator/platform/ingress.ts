/**
 * What stands between a TCP (or TLS) connection and aedes: aedes buffers a whole packet before
 * anything checks it, so a CONNECT announcing 256 MB would be held in memory before login. This
 * reads each packet's fixed header as the bytes arrive and closes the connection as soon as a
 * packet announces more than its limit: a small one until the CONNECT is authenticated, the
 * protocol's largest PUBLISH after. It also bounds connections per address; aedes's own
 * `connectTimeout` bounds the time before the CONNECT.
 */
import { Duplex } from "node:stream";
import type { Socket } from "node:net";
import { MAX_MESSAGE_BYTES } from "./registry";

export interface IngressLimits {
  /** Largest packet (fixed header included) before the CONNECT is authenticated. */
  preAuthPacketBytes: number;
  /** Largest packet after. */
  packetBytes: number;
  /** Connections one address may hold at once (authenticated or not). */
  connectionsPerAddress: number;
}

/**
 * A CONNECT of this protocol is well under 2 KB (tokens of tens of bytes, no will); a PUBLISH is
 * at most a 256 KiB message plus a topic of a few hundred bytes.
 */
export const DEFAULT_INGRESS_LIMITS: IngressLimits = {
  preAuthPacketBytes: 4096,
  packetBytes: MAX_MESSAGE_BYTES + 4096,
  connectionsPerAddress: 64,
};

/** Reads MQTT fixed headers off a byte stream, buffering nothing: a packet's body is only counted. */
export class FixedHeaderReader {
  /** Bytes of the current packet's body still to pass. */
  #skip = 0;
  /** Header bytes read of the current packet: 0 before its type byte, then 1 + length bytes. */
  #header = 0;
  #length = 0;

  /**
   * Feeds `bytes`; returns the total size of the first packet that announces more than
   * `limit()` bytes, or 0. Throws on a remaining length over 4 bytes.
   */
  push(bytes: Uint8Array, limit: () => number): number {
    for (let i = 0; i < bytes.length;) {
      if (this.#skip > 0) {
        const passed = Math.min(this.#skip, bytes.length - i);
        this.#skip -= passed;
        i += passed;
        continue;
      }
      const byte = bytes[i++];
      if (this.#header === 0) {
        this.#header = 1;
        this.#length = 0;
        continue;
      }
      this.#length += (byte & 0x7f) * 128 ** (this.#header - 1);
      this.#header++;
      if (byte & 0x80) {
        if (this.#header === 5) throw new Error("a remaining length over 4 bytes");
        continue;
      }
      const total = this.#header + this.#length;
      if (total > limit()) return total;
      this.#skip = this.#length;
      this.#header = 0;
    }
    return 0;
  }
}

/**
 * Bytes all MQTT connections together hand to aedes in one turn of the event loop. Past it, a
 * connection waits for the next turn: aedes handles every packet of what it reads at once, so
 * fifty devices publishing flat out would otherwise fill each turn with seconds of work, and the
 * HTTP API and timers would wait behind it.
 */
const BYTES_PER_TURN = 64 * 1024;
let bytesThisTurn = 0;
let turnEnding = false;
const waitingForNextTurn = new Set<Socket>();

function nextTurn(): void {
  turnEnding = false;
  bytesThisTurn = 0;
  const waiting = [...waitingForNextTurn];
  waitingForNextTurn.clear();
  for (const socket of waiting) if (!socket.destroyed) socket.resume();
}

/** Counts bytes read this turn; false when the connection should wait for the next one. */
function takeTurn(socket: Socket, bytes: number): boolean {
  bytesThisTurn += bytes;
  if (!turnEnding) {
    turnEnding = true;
    setImmediate(nextTurn);
  }
  if (bytesThisTurn <= BYTES_PER_TURN) return true;
  waitingForNextTurn.add(socket);
  return false;
}

/** The stream aedes reads a client from: the socket's bytes, checked packet by packet. */
export class IngressStream extends Duplex {
  /** Set when the CONNECT was accepted: later packets may be up to `packetBytes`. */
  authenticated = false;
  readonly remoteAddress: string | undefined;
  readonly #socket: Socket;
  readonly #reader = new FixedHeaderReader();
  #corked = false;

  constructor(socket: Socket, limits: IngressLimits, onRefused: (reason: string) => void) {
    super({ allowHalfOpen: false });
    this.#socket = socket;
    this.remoteAddress = socket.remoteAddress;
    const limit = () => (this.authenticated ? limits.packetBytes : limits.preAuthPacketBytes);
    socket.on("data", (bytes: Buffer) => {
      let oversize: number;
      try {
        oversize = this.#reader.push(bytes, limit);
      } catch (error) {
        onRefused((error as Error).message);
        return this.destroy();
      }
      if (oversize) {
        onRefused(
          `a packet of ${oversize} bytes, over the ${limit()} allowed${this.authenticated ? "" : " before login"}`,
        );
        return this.destroy();
      }
      const pushed = this.push(bytes);
      if (!takeTurn(socket, bytes.length)) socket.pause();
      else if (!pushed) socket.pause();
    });
    socket.on("end", () => this.push(null));
    socket.on("error", (error) => this.destroy(error));
    socket.on("close", () => this.destroy());
  }

  override _read(): void {
    if (!waitingForNextTurn.has(this.#socket)) this.#socket.resume();
  }

  /**
   * Packets written in one turn (a committed batch's PUBACKs, say) leave in one write to the
   * kernel: the socket is corked until the turn ends. A write is done once the socket has taken
   * it, or, past its buffer's bound, once it drained.
   */
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: (error?: Error | null) => void): void {
    const socket = this.#socket;
    if (socket.destroyed) return done();
    if (!this.#corked) {
      this.#corked = true;
      socket.cork();
      process.nextTick(() => {
        this.#corked = false;
        socket.uncork();
      });
    }
    if (socket.write(chunk)) done();
    else socket.once("drain", () => done());
  }

  override _final(done: (error?: Error | null) => void): void {
    this.#socket.end(done);
  }

  override _destroy(error: Error | null, done: (error?: Error | null) => void): void {
    this.#socket.destroy();
    done(error);
  }
}

/** Counts connections per address; `admit` is false (and counts nothing) when one holds its share. */
export class ConnectionsPerAddress {
  readonly #counts = new Map<string, number>();

  readonly #limit: number;

  constructor(limit: number) {
    this.#limit = limit;
  }

  admit(socket: Socket): boolean {
    const address = socket.remoteAddress ?? "";
    const count = this.#counts.get(address) ?? 0;
    if (count >= this.#limit) return false;
    this.#counts.set(address, count + 1);
    socket.once("close", () => {
      const left = (this.#counts.get(address) ?? 1) - 1;
      if (left > 0) this.#counts.set(address, left);
      else this.#counts.delete(address);
    });
    return true;
  }
}

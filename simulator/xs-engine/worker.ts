/**
 * Drives Moddable's XS engine as compiled by @agoric/xsnap, without its JavaScript API (which
 * needs SES lockdown of the Node process). The worker reads netstrings on fd 3 and answers on
 * fd 4, one message at a time:
 *   to XS:   `e<script>` evaluate, `?<bytes>` call globalThis.handleCommand(ArrayBuffer), `q` quit,
 *            `/<bytes>` the answer to a command XS issued;
 *   from XS: `.<meter JSON>\x01<reply bytes>` done, `!<message>` uncaught exception,
 *            `?<bytes>` a script called globalThis.issueCommand(ArrayBuffer) and blocks for `/`.
 * Promise jobs inside XS run before the worker replies, so one request is one "crank".
 * This is the bridge through which a Node host serves the SDK's ports to code running in XS:
 * XS issues commands up, the host pushes events down with issueCommand.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import type { Readable, Writable } from "node:stream";
import { packageRoot } from "../package-root";
import { NetstringReader, encodeNetstring } from "./netstring";

const platformDirectory: Partial<Record<NodeJS.Platform, string>> = { linux: "lin", darwin: "mac" };

/** Where @agoric/xsnap's install script leaves the compiled engine. */
export const xsnapWorkerPath = resolve(
  packageRoot,
  "node_modules/@agoric/xsnap/xsnap-native/xsnap/build/bin",
  platformDirectory[process.platform] ?? process.platform,
  "release/xsnap-worker",
);

/** The XS machine with a device's creation sizes (simulator/xs-engine/device-worker.c), compiled at install. */
export const deviceWorkerPath = resolve(packageRoot, "dist/xs/device-worker");

/** A Moddable manifest's `creation`: the sizes an XS machine starts with on the device. */
export interface DeviceCreation {
  /** Stack slots: exceeding them aborts the machine ("stack overflow"). */
  stack: number;
  chunk: { initial: number; incremental: number };
  heap: { initial: number; incremental: number };
  keys: { available: number };
}

/** Exit codes of xsnap-worker (from @agoric/xsnap's api.js), which device-worker uses too. */
const exitReasons: Record<number, string> = {
  1: "bad argument usage",
  2: "I/O error",
  11: "not enough memory",
  12: "stack overflow",
  15: "unhandled exception",
  16: "property (key) name space exhausted",
  17: "too much computation",
};

const QUIT = Buffer.from("q");
const QUERY = 0x3f; // '?'
const OK = 0x2e; // '.'
const ERROR = 0x21; // '!'
const METER_SEPARATOR = 0x01;
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;
const OUTPUT_TAIL_CHARS = 4096;

/** xsnap's meter figures for one request. */
export interface XsMeter {
  /** Work done during the request, in XS meter units (roughly bytecodes and calls). */
  compute: number;
  /** Bytes of heap the machine has allocated from the system so far (chunks + slots). */
  allocate: number;
  /** Slots in use after the request's garbage, if any, was left for the collector. */
  currentHeapCount: number;
  /** With a device creation: the most stack slots in use since the machine started. */
  stackPeak?: number;
}

export interface XsResult {
  /** The script's completion value or handleCommand's result, when it is an ArrayBuffer. */
  reply: Uint8Array;
  meter: XsMeter;
}

/** Answers globalThis.issueCommand(request) inside XS; XS is blocked until it returns. */
export type XsCommandHandler = (request: Uint8Array) => Uint8Array | Promise<Uint8Array>;

export interface XsWorkerOptions {
  /** Names the worker in error messages. */
  name?: string;
  /** Serves commands issued from XS; without one, a command fails the request that issued it. */
  onCommand?: XsCommandHandler;
  /**
   * Most compute units one request may use (at most 2^31 - 1); beyond it the engine exits with
   * "too much computation" instead of looping for ever. Unlimited by default.
   */
  meteringLimit?: number;
  /**
   * Run on device-worker with these sizes instead of xsnap-worker (4096 stack slots, 32 MB of
   * chunks), so code that needs more stack than the device has fails as it would there.
   */
  creation?: DeviceCreation;
}

/** An uncaught exception inside XS; `message` is XS's own rendering of the thrown value. */
export class XsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "XsError";
  }
}

interface Request {
  message: Uint8Array;
  resolve(result: XsResult): void;
  reject(error: Error): void;
}

export class XsWorker {
  readonly #name: string;
  readonly #onCommand: XsCommandHandler | undefined;
  readonly #meteringLimit: number | undefined;
  readonly #creation: DeviceCreation | undefined;
  #child: ChildProcess | undefined;
  #toXs: Writable | undefined;
  readonly #queue: Request[] = [];
  #current: Request | undefined;
  #failure: Error | undefined;
  #exited: Promise<void> = Promise.resolve();
  #outputTail = "";

  constructor(options: XsWorkerOptions = {}) {
    this.#name = options.name ?? "xs";
    this.#onCommand = options.onCommand;
    this.#meteringLimit = options.meteringLimit;
    this.#creation = options.creation;
    if (this.#creation && this.#meteringLimit !== undefined)
      throw new Error("XsWorker: device-worker has no metering limit");
  }

  /** Spawns the engine; throws at once when the binary is missing. */
  start(): void {
    if (this.#child) throw new Error(`XsWorker ${this.#name} already started`);
    const [binary, args] = this.#command();
    if (!existsSync(binary))
      throw new Error(
        `XS engine binary not found at ${binary}: run npm ci (it compiles XS through @agoric/xsnap's install script, then device-worker)`,
      );
    const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe", "pipe", "pipe"] });
    this.#child = child;
    this.#toXs = child.stdio[3] as Writable;
    const fromXs = child.stdio[4] as Readable;
    const reader = new NetstringReader(MAX_MESSAGE_BYTES);
    fromXs.on("data", (chunk: Buffer) => {
      try {
        reader.push(chunk, (message) => this.#receive(message));
      } catch (error) {
        this.#fail(new Error(`XS ${this.#name}: ${(error as Error).message}`));
      }
    });
    // A write after the worker died fails here; the exit handler reports why it died.
    this.#toXs.on("error", () => {});
    child.stdout?.on("data", (chunk: Buffer) => this.#keepOutput(chunk));
    child.stderr?.on("data", (chunk: Buffer) => this.#keepOutput(chunk));
    this.#exited = new Promise((resolveExit) => {
      child.on("error", (error) => {
        this.#fail(new Error(`XS ${this.#name} could not run ${binary}: ${error.message}`));
        resolveExit();
      });
      child.on("close", (code, signal) => {
        const reason = signal ? `signal ${signal}` : `code ${code} (${exitReasons[code ?? -1] ?? "unknown"})`;
        this.#fail(new Error(`XS ${this.#name} exited with ${reason}${this.#outputForError()}`));
        resolveExit();
      });
    });
  }

  #command(): [string, string[]] {
    const c = this.#creation;
    if (!c)
      return [
        xsnapWorkerPath,
        [this.#name, ...(this.#meteringLimit === undefined ? [] : ["-l", String(this.#meteringLimit)])],
      ];
    return [
      deviceWorkerPath,
      [c.stack, c.chunk.initial, c.chunk.incremental, c.heap.initial, c.heap.incremental, c.keys.available].map(String),
    ];
  }

  /**
   * With a device creation: the code is loaded, the device's stack size applies from now on
   * (a bundle's top level is one frame far deeper than the device's separate modules need).
   */
  limitStackToDevice(): Promise<XsResult> {
    if (!this.#creation) return Promise.reject(new Error(`XsWorker ${this.#name} has no device creation`));
    return this.#request(Buffer.from("L"));
  }

  /** Evaluates a script (sloppy mode, global scope) and runs promise jobs to completion. */
  evaluate(script: string): Promise<XsResult> {
    return this.#request(Buffer.from(`e${script}`));
  }

  /** Calls globalThis.handleCommand(ArrayBuffer) inside XS. */
  issueCommand(bytes: Uint8Array): Promise<XsResult> {
    return this.#request(Buffer.concat([Buffer.from("?"), bytes]));
  }

  /** Lets queued requests finish, asks the engine to quit and waits for it to exit. */
  async close(): Promise<void> {
    if (!this.#child) return;
    if (!this.#failure)
      await new Promise<void>((done) => {
        this.#queue.push({ message: QUIT, resolve: () => done(), reject: () => done() });
        this.#sendNext();
      });
    await this.#exited;
  }

  #request(message: Uint8Array): Promise<XsResult> {
    if (!this.#child) return Promise.reject(new Error(`XsWorker ${this.#name} is not started`));
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolveRequest, rejectRequest) => {
      this.#queue.push({ message, resolve: resolveRequest, reject: rejectRequest });
      this.#sendNext();
    });
  }

  // One message at a time: a script that issues a command reads the next netstring as its answer.
  #sendNext(): void {
    if (this.#current || this.#failure) return;
    this.#current = this.#queue.shift();
    if (!this.#current) return;
    if (this.#current.message === QUIT) {
      // Settled by the exit that follows.
      this.#failure = new Error(`XS ${this.#name} is closed`);
      this.#toXs?.end(encodeNetstring(QUIT));
    } else {
      this.#toXs?.write(encodeNetstring(this.#current.message));
    }
  }

  #receive(message: Uint8Array): void {
    const request = this.#current;
    if (!request) return this.#fail(new Error(`XS ${this.#name} sent a message while idle`));
    const kind = message[0];
    if (kind === QUERY) return this.#answerCommand(message.subarray(1));
    if (kind !== OK && kind !== ERROR)
      return this.#fail(
        new Error(`XS ${this.#name} sent an unknown message kind ${JSON.stringify(String.fromCharCode(kind))}`),
      );
    this.#current = undefined;
    if (kind === ERROR) request.reject(new XsError(Buffer.from(message.subarray(1)).toString("utf8")));
    else request.resolve(parseOk(message));
    this.#sendNext();
  }

  #answerCommand(command: Uint8Array): void {
    const handler = this.#onCommand;
    if (!handler)
      return this.#fail(new Error(`XS ${this.#name} issued a command but the host has no onCommand handler`));
    Promise.resolve()
      .then(() => handler(Buffer.from(command)))
      .then(
        (answer) => {
          if (!this.#failure) this.#toXs?.write(encodeNetstring(Buffer.from("/"), answer));
        },
        (error: unknown) =>
          this.#fail(new Error(`XS ${this.#name}: the host's command handler threw: ${String(error)}`)),
      );
  }

  /** Fails every pending request with `error` and stops the engine. */
  #fail(error: Error): void {
    if (!this.#failure) this.#failure = error;
    const pending = [this.#current, ...this.#queue.splice(0)];
    this.#current = undefined;
    for (const request of pending) request?.reject(error);
    if (this.#child && this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill();
  }

  #keepOutput(chunk: Buffer): void {
    this.#outputTail = (this.#outputTail + chunk.toString("utf8")).slice(-OUTPUT_TAIL_CHARS);
  }

  #outputForError(): string {
    return this.#outputTail ? `; its last output:\n${this.#outputTail}` : "";
  }
}

/** Reads a reply or command that code inside XS made with simulator/xs-engine/inside.ts's jsonBuffer. */
export function parseJson<T>(bytes: Uint8Array): T {
  return JSON.parse(Buffer.from(bytes).toString("utf8")) as T;
}

function parseOk(message: Uint8Array): XsResult {
  const separator = message.indexOf(METER_SEPARATOR, 1);
  if (separator < 0) return { reply: message.subarray(1), meter: { compute: 0, allocate: 0, currentHeapCount: 0 } };
  const figures = parseJson<XsMeter>(message.subarray(1, separator));
  return {
    reply: Buffer.from(message.subarray(separator + 1)),
    meter: {
      compute: figures.compute,
      allocate: figures.allocate,
      currentHeapCount: figures.currentHeapCount,
      stackPeak: figures.stackPeak,
    },
  };
}

/**
 * The Node half of the Moddable-on-fakes rig: an XS machine with manifest.json's creation
 * (simulator/xs-engine/device-worker.c) running a bundle built by bundleModdableOnFakes for one Moddable
 * platform, whose fake `socket` is bridged to real TCP sockets here (and fake `securesocket` to TLS
 * connections made as Moddable's TLS client makes them, see moddable-tls.ts), whose preferences
 * live here (so an app restarted on the same `preferences` finds what it stored), and whose time
 * is moved by this host (`speed` virtual ms per real ms). Records trace lines and the XS heap and
 * stack figures of every crank.
 */
import { randomBytes, X509Certificate } from "node:crypto";
import type { Plugin } from "esbuild";
import { connect, type Socket } from "node:net";
import { bundleModdableOnFakes, moddableBundles, type ModdablePlatform } from "../../scripts/build-moddable";
import type { StoredPreference } from "./fakes/preference";
import { XsWorker, type DeviceCreation, type XsResult } from "../../simulator/xs-engine/worker";
import { manifest } from "./manifest";
import { moddableTlsConnect } from "./moddable-tls";

/** The fakes of Moddable's modules, and of what XS itself does differently on each platform. */
function moddableFakes(platform: ModdablePlatform): Record<string, string> {
  const board = platform === "esp32";
  const platformModule = moddableBundles.find(
    (b) => b.name === "provisio-platform" && (b.platforms as readonly string[]).includes(platform),
  )!;
  return {
    socket: "testkit/moddable/fakes/socket.ts",
    securesocket: "testkit/moddable/fakes/securesocket.ts",
    timer: "testkit/moddable/fakes/timer.ts",
    time: "testkit/moddable/fakes/time.ts",
    preference: "testkit/moddable/fakes/preference.ts",
    sntp: "testkit/moddable/fakes/sntp.ts",
    crypt: "testkit/moddable/fakes/crypt.ts",
    Resource: "testkit/moddable/fakes/resource.ts",
    "mc/config": "testkit/moddable/fakes/config.ts",
    "provisio-entropy": "testkit/moddable/fakes/entropy.ts",
    // Moddable's `flash` exists for esp, esp32 and nrf52 only.
    ...(board ? { flash: "testkit/moddable/fakes/flash.ts" } : {}),
    "moddable-runtime": board ? "testkit/moddable/fakes/runtime-esp32.ts" : "testkit/moddable/fakes/runtime-lin.ts",
    "provisio-platform": platformModule.entry,
  };
}

export const entryGlobal = "moddableApp";

/** A DER certificate's validity in ms since 1970, or null when the bytes are not a certificate. */
function certificateValidity(base64url: string): { notBefore: number; notAfter: number } | null {
  try {
    const certificate = new X509Certificate(Buffer.from(base64url, "base64url"));
    return { notBefore: Date.parse(certificate.validFrom), notAfter: Date.parse(certificate.validTo) };
  } catch {
    return null;
  }
}

/** A device's preferences (NVS, or the simulator's JSON file): domain, then key, to value. */
export type Preferences = Map<string, Map<string, StoredPreference>>;

export interface ModdableRig {
  worker: XsWorker;
  /** Every line `trace` printed inside XS. */
  lines: string[];
  /**
   * Most slots in use after any crank so far. With `collectEachCrank`, every event crank starts
   * from a full collection, so this bounds the live peak: live slots plus one crank's allocations.
   */
  peakHeapSlots: number;
  /** Most memory the XS machine has taken from the system for slots and chunks (meter `allocate`). */
  peakAllocatedBytes: number;
  /** Most XS stack slots in use since the app started (the machine has manifest.json's creation.stack). */
  peakStackSlots: number;
  /** Evaluates `script` in XS (the entry's exports are on `moddableApp`). */
  evaluate(script: string): Promise<XsResult>;
  /** Why the securesocket fake refused each TLS handshake Moddable would refuse (its ssl_cert.js check). */
  tlsRefusals: string[];
  /** Resolves with the first trace line matching `pattern` (past or future). */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  stop(): Promise<void>;
}

export interface ModdableRigOptions {
  /** Virtual milliseconds per real millisecond. Default 1. */
  speed?: number;
  tickMs?: number;
  /** More esbuild plugins for the bundle (e.g. instrumentation for a bench). */
  plugins?: Plugin[];
  /** Collect garbage inside XS before each host event (for heap measurements; slower). */
  collectEachCrank?: boolean;
  /** The XS machine's sizes. Default: manifest.json's `creation`, as on the device. */
  creation?: DeviceCreation;
  /** The Moddable platform the app is built for. Default "esp32". */
  platform?: ModdablePlatform;
  /** The device's preferences; pass the same map to a later rig to restart the device. Default: empty. */
  preferences?: Preferences;
  /** Whether the host's random source (the native module provisio-entropy) works. Default true. */
  entropy?: boolean;
  /** How many SNTP requests fail (Moddable's client then calls back with an error) before one answers. Default 0. */
  sntpFailures?: number;
}

export async function startModdableRig(options: ModdableRigOptions = {}): Promise<ModdableRig> {
  const speed = options.speed ?? 1;
  const tickMs = options.tickMs ?? 20;
  const sockets = new Map<number, Socket>();
  /** Socket events pushed to XS, per socket. */
  const pushed = new Map<number, number>();
  const tlsSessions = new Map<string, Buffer>();
  const platform = options.platform ?? "esp32";
  const preferences: Preferences = options.preferences ?? new Map();
  let sntpFailures = options.sntpFailures ?? 0;
  const lines: string[] = [];
  const waiters: { pattern: RegExp; resolve(match: RegExpMatchArray): void }[] = [];
  let partial = "";
  let nextId = 1;
  let failure: Error | undefined;
  let stopped = false;

  const record = (result: XsResult) => {
    rig.peakHeapSlots = Math.max(rig.peakHeapSlots, result.meter.currentHeapCount);
    rig.peakStackSlots = Math.max(rig.peakStackSlots, result.meter.stackPeak ?? 0);
    rig.peakAllocatedBytes = Math.max(rig.peakAllocatedBytes, result.meter.allocate);
    return result;
  };
  const fail = (error: Error) => {
    failure ??= error;
  };
  const push = (event: Record<string, unknown>) => {
    if (stopped || failure) return Promise.resolve();
    const collect = options.collectEachCrank ? { collectFirst: true } : {};
    return worker.issueCommand(Buffer.from(JSON.stringify({ ...event, ...collect }))).then(record, fail);
  };

  const serve = (request: Record<string, any>): unknown => {
    switch (request.op) {
      case "trace": {
        partial += request.text;
        const complete = partial.split("\n");
        partial = complete.pop()!;
        for (const line of complete) {
          lines.push(line);
          for (const waiter of [...waiters]) {
            const match = line.match(waiter.pattern);
            if (match) {
              waiters.splice(waiters.indexOf(waiter), 1);
              waiter.resolve(match);
            }
          }
        }
        return null;
      }
      case "socket-connect": {
        // On lin a new socket takes the memory of one freed before it: messages still posted to
        // a freed socket (pushed here, not yet delivered there) would act on the new one.
        if (platform === "lin")
          for (const [closedId, count] of pushed)
            if (!sockets.has(closedId) && count > (request.delivered[closedId] ?? 0))
              fail(
                new Error(
                  `Moddable fakes: a socket was made while messages posted to freed socket ${closedId} were undelivered: on the simulator they act on the new socket (mcsim crashed so)`,
                ),
              );
        const id = nextId++;
        pushed.set(id, 0);
        const event = (name: string, fields: Record<string, unknown> = {}) => {
          // The closed socket is off modSocket's poll: nothing more is posted to it.
          if (!sockets.has(id)) return;
          pushed.set(id, pushed.get(id)! + 1);
          void push({ kind: "socket", id, event: name, ...fields });
        };
        let secured = false;
        // A TLS socket is "connected" once its handshake is done and Moddable would accept it.
        const socket: Socket = request.tls
          ? moddableTlsConnect(request.host, request.port, request.tls, tlsSessions, {
              onConnected: () => {
                secured = true;
                event("connected");
              },
              onRefused: (reason) => rig.tlsRefusals.push(reason),
            })
          : connect(request.port, request.host).on("connect", () => event("connected"));
        sockets.set(id, socket);
        socket.on("data", (data) => event("data", { bytes: data.toString("base64url") }));
        socket.on("error", () => undefined);
        socket.on("close", (hadError) => {
          event(!hadError ? "closed" : request.tls && !secured ? "tls-failed" : "error");
          sockets.delete(id);
        });
        return id;
      }
      case "socket-write": {
        const bytes = Buffer.from(request.bytes, "base64url");
        sockets.get(request.id)?.write(bytes, () => {
          if (sockets.has(request.id)) {
            pushed.set(request.id, pushed.get(request.id)! + 1);
            void push({ kind: "socket", id: request.id, event: "sent", sent: bytes.length });
          }
        });
        return null;
      }
      case "socket-close": {
        const socket = sockets.get(request.id);
        sockets.delete(request.id);
        socket?.end();
        return null;
      }
      case "certificate-validity":
        return certificateValidity(request.certificate);
      case "sntp":
        if (sntpFailures > 0) {
          sntpFailures--;
          return null;
        }
        return Math.floor(Date.now() / 1000);
      case "wall-ms":
        return Date.now();
      case "entropy":
        return options.entropy === false ? null : randomBytes(request.count).toString("base64url");
      case "preference-get":
        return preferences.get(request.domain)?.get(request.key) ?? null;
      case "preference-set": {
        const domain = preferences.get(request.domain) ?? new Map<string, StoredPreference>();
        preferences.set(request.domain, domain.set(request.key, request.stored));
        return null;
      }
      case "preference-delete":
        preferences.get(request.domain)?.delete(request.key);
        return null;
      case "preference-keys":
        return [...(preferences.get(request.domain)?.keys() ?? [])];
      case "fault":
        fail(new Error(`Moddable fakes: ${request.message}`));
        return null;
    }
    throw new Error(`unknown request from the Moddable fakes: ${request.op}`);
  };

  const worker = new XsWorker({
    name: "moddable-app",
    creation: options.creation ?? manifest.creation,
    onCommand: (bytes) => Buffer.from(JSON.stringify(serve(JSON.parse(Buffer.from(bytes).toString("utf8"))) ?? null)),
  });
  let advancing = false;
  let clock: NodeJS.Timeout | undefined;

  const rig: ModdableRig = {
    worker,
    lines,
    peakHeapSlots: 0,
    peakStackSlots: 0,
    peakAllocatedBytes: 0,
    tlsRefusals: [],
    evaluate: (script) => worker.evaluate(script).then(record),
    waitForLine(pattern, timeoutMs = 20_000) {
      const found = lines.map((line) => line.match(pattern)).find((match) => match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          clearInterval(check);
          reject(
            failure ?? new Error(`no trace line matching ${pattern} in ${timeoutMs} ms; lines:\n${lines.join("\n")}`),
          );
        }, timeoutMs);
        const check = setInterval(() => {
          if (!failure) return;
          clearInterval(check);
          clearTimeout(timer);
          reject(failure);
        }, 50);
        waiters.push({
          pattern,
          resolve(match) {
            clearTimeout(timer);
            clearInterval(check);
            resolve(match);
          },
        });
      });
    },
    async stop() {
      stopped = true;
      if (clock) clearInterval(clock);
      for (const socket of sockets.values()) socket.destroy();
      await worker.close();
      if (failure) throw failure;
    },
  };

  worker.start();
  await rig.evaluate(
    await bundleModdableOnFakes("testkit/moddable/app-entry.js", entryGlobal, moddableFakes(platform), options.plugins),
  );
  // From here the stack is the device's, and its peak counts from the app's start.
  rig.peakStackSlots = 0;
  await worker.limitStackToDevice().then(record);
  // Time starts once the fakes are there to receive it.
  clock = setInterval(() => {
    if (advancing) return;
    advancing = true;
    void push({ kind: "advance", ms: tickMs * speed }).finally(() => (advancing = false));
  }, tickMs);
  return rig;
}

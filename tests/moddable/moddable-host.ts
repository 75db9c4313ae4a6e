/**
 * The Node half of the Moddable-on-fakes rig: an xsnap worker running a bundle built by
 * bundleModdableOnFakes, whose fake `socket` is bridged to real TCP sockets here (and fake
 * `securesocket` to TLS connections with the profile of Moddable's TLS client) and whose time
 * is moved by this host (`speed` virtual ms per real ms). Records trace lines and the XS heap
 * figures of every crank.
 */
import type { Plugin } from "esbuild";
import { X509Certificate } from "node:crypto";
import { connect, type Socket } from "node:net";
import { connect as tlsConnect } from "node:tls";
import { bundleModdableOnFakes } from "../../scripts/build-moddable";
import type { TlsRequest } from "../support-moddable/socket";
import { XsWorker, type XsResult } from "../../targets/xs/worker";

export const moddableFakes: Record<string, string> = {
  socket: "tests/support-moddable/socket.ts",
  securesocket: "tests/support-moddable/securesocket.ts",
  timer: "tests/support-moddable/timer.ts",
  time: "tests/support-moddable/time.ts",
  preference: "tests/support-moddable/preference.ts",
  flash: "tests/support-moddable/flash.ts",
  sntp: "tests/support-moddable/sntp.ts",
  Resource: "tests/support-moddable/resource.ts",
  "mc/config": "tests/support-moddable/config.ts",
};

export const entryGlobal = "moddableApp";

/**
 * What Moddable's TLS client (modules/crypt/ssl) offers with config.tls.ECDHE_RSA, as
 * tls_common.json sets it: TLS 1.2 at most, these suites, and P-256 as its only ECDHE curve.
 */
const moddableTlsProfile = {
  minVersion: "TLSv1.2",
  maxVersion: "TLSv1.2",
  ciphers: [
    "AES128-SHA",
    "AES256-SHA",
    "AES128-SHA256",
    "AES256-SHA256",
    "ECDHE-RSA-AES128-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES128-GCM-SHA256",
  ].join(":"),
  ecdhCurve: "P-256",
} as const;

/**
 * A TLS connection as Moddable makes it: chain and dates verified against the one CA, no host-name
 * check, and the session resumed from the last one with the same server name (the SNI, else the
 * host) unless `cache` is false.
 */
function moddableTlsConnect(host: string, port: number, tls: TlsRequest, sessions: Map<string, Buffer>) {
  const serverName = tls.serverName ?? host;
  const socket = tlsConnect({
    host,
    port,
    ...moddableTlsProfile,
    ca: new X509Certificate(Buffer.from(tls.certificate, "base64url")).toString(),
    // SNI only when the app gives a serverName, as on Moddable.
    servername: tls.serverName,
    rejectUnauthorized: true,
    // Moddable's host-name check is commented out in ssl_handshake.js: any name passes.
    checkServerIdentity: () => undefined,
    session: tls.cache ? sessions.get(serverName) : undefined,
  });
  if (tls.cache) socket.on("session", (session) => sessions.set(serverName, session));
  return socket;
}

/** A DER certificate's validity in ms since 1970, or null when the bytes are not a certificate. */
function certificateValidity(base64url: string): { notBefore: number; notAfter: number } | null {
  try {
    const certificate = new X509Certificate(Buffer.from(base64url, "base64url"));
    return { notBefore: Date.parse(certificate.validFrom), notAfter: Date.parse(certificate.validTo) };
  } catch {
    return null;
  }
}

export interface ModdableRig {
  worker: XsWorker;
  /** Every line `trace` printed inside XS. */
  lines: string[];
  /**
   * Most slots in use after any crank so far. With `collectEachCrank`, every event crank starts
   * from a full collection, so this bounds the live peak: live slots plus one crank's allocations.
   */
  peakHeapSlots: number;
  /** Evaluates `script` in XS (the entry's exports are on `moddableApp`). */
  evaluate(script: string): Promise<XsResult>;
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
}

export async function startModdableRig(options: ModdableRigOptions = {}): Promise<ModdableRig> {
  const speed = options.speed ?? 1;
  const tickMs = options.tickMs ?? 20;
  const sockets = new Map<number, Socket>();
  const tlsSessions = new Map<string, Buffer>();
  const lines: string[] = [];
  const waiters: { pattern: RegExp; resolve(match: RegExpMatchArray): void }[] = [];
  let partial = "";
  let nextId = 1;
  let failure: Error | undefined;
  let stopped = false;

  const record = (result: XsResult) => {
    rig.peakHeapSlots = Math.max(rig.peakHeapSlots, result.meter.currentHeapCount);
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
        const id = nextId++;
        // A TLS socket is "connected" once its handshake is done, as securesocket's callback is, with
        // the server's certificate when the handshake was a full one (a resumed one sends none).
        const event = (name: string, fields: Record<string, unknown> = {}) => push({ kind: "socket", id, event: name, ...fields });
        let socket: Socket;
        if (request.tls) {
          const tlsSocket = moddableTlsConnect(request.host, request.port, request.tls, tlsSessions);
          tlsSocket.on("secureConnect", () =>
            event("connected", tlsSocket.isSessionReused() ? {} : { bytes: tlsSocket.getPeerCertificate().raw.toString("base64url") }),
          );
          socket = tlsSocket;
        } else {
          socket = connect(request.port, request.host);
          socket.on("connect", () => event("connected"));
        }
        sockets.set(id, socket);
        socket.on("data", (data) => event("data", { bytes: data.toString("base64url") }));
        socket.on("error", () => undefined);
        socket.on("close", (hadError) => {
          if (sockets.delete(id)) event(hadError ? "error" : "closed");
        });
        return id;
      }
      case "socket-write": {
        const bytes = Buffer.from(request.bytes, "base64url");
        sockets.get(request.id)?.write(bytes, () => void push({ kind: "socket", id: request.id, event: "sent", sent: bytes.length }));
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
      case "wall-seconds":
        return Math.floor(Date.now() / 1000);
    }
    throw new Error(`unknown request from the Moddable fakes: ${request.op}`);
  };

  const worker = new XsWorker({
    name: "moddable-app",
    onCommand: (bytes) => Buffer.from(JSON.stringify(serve(JSON.parse(Buffer.from(bytes).toString("utf8"))) ?? null)),
  });
  let advancing = false;
  let clock: NodeJS.Timeout | undefined;

  const rig: ModdableRig = {
    worker,
    lines,
    peakHeapSlots: 0,
    evaluate: (script) => worker.evaluate(script).then(record),
    waitForLine(pattern, timeoutMs = 20_000) {
      const found = lines.map((line) => line.match(pattern)).find((match) => match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          clearInterval(check);
          reject(failure ?? new Error(`no trace line matching ${pattern} in ${timeoutMs} ms; lines:\n${lines.join("\n")}`));
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
  await rig.evaluate(await bundleModdableOnFakes("tests/moddable/app-entry.js", entryGlobal, moddableFakes, options.plugins));
  // Time starts once the fakes are there to receive it.
  clock = setInterval(() => {
    if (advancing) return;
    advancing = true;
    void push({ kind: "advance", ms: tickMs * speed }).finally(() => (advancing = false));
  }, tickMs);
  return rig;
}

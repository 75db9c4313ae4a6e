/**
 * TLS's cost: handshake time and bytes on the wire against the platform's TLS listener settings
 * (tlsServerOptions, a development P-256 certificate), and per-message round-trip time and wire
 * bytes of a 200-byte MQTT-sized message over TLS against plain TCP, to an echo server in this
 * process. The client speaks as Moddable's securesocket does (TLS 1.2, ECDHE-ECDSA-AES128-GCM,
 * P-256). Compare the ratios within one run. Run alone: `npm run bench -- tls`.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, Socket, type AddressInfo, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { connect as tlsConnect, createServer as createTlsServer } from "node:tls";
import { createCa, createServerCert } from "../simulator/certs/development-ca";
import { tlsServerOptions } from "../simulator/platform/platform";
import type { BenchReport } from "./run";

const HANDSHAKES = 50;
const MESSAGES = 2000;
const MESSAGE_BYTES = 200;

function listening(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as AddressInfo).port)));
}

/** A TCP connection, upgraded to TLS when `ca` is given; the raw socket counts the wire bytes. */
async function open(port: number, ca?: Buffer): Promise<{ stream: Socket; raw: Socket }> {
  const raw = new Socket().connect(port, "127.0.0.1");
  raw.setNoDelay(true);
  await new Promise((resolve) => raw.once("connect", resolve));
  if (!ca) return { stream: raw, raw };
  // As Moddable's securesocket connects: TLS 1.2, ECDHE-ECDSA, P-256.
  const stream = tlsConnect({
    socket: raw,
    ca,
    servername: "localhost",
    minVersion: "TLSv1.2",
    maxVersion: "TLSv1.2",
    ciphers: "ECDHE-ECDSA-AES128-GCM-SHA256",
    ecdhCurve: "P-256",
  });
  await new Promise<void>((resolve, reject) => {
    stream.once("secureConnect", resolve);
    stream.once("error", reject);
  });
  return { stream, raw };
}

/** Sends MESSAGES messages one at a time, each after the previous one's echo. */
async function roundTrips(stream: Socket): Promise<number> {
  const message = Buffer.alloc(MESSAGE_BYTES, 0x5a);
  const start = performance.now();
  for (let i = 0; i < MESSAGES; i++) {
    let got = 0;
    await new Promise<void>((resolve) => {
      const onData = (data: Buffer) => {
        got += data.length;
        if (got >= MESSAGE_BYTES) {
          stream.off("data", onData);
          resolve();
        }
      };
      stream.on("data", onData);
      stream.write(message);
    });
  }
  return (performance.now() - start) / MESSAGES;
}

export async function run(): Promise<BenchReport> {
  const dir = mkdtempSync(join(tmpdir(), "provisio-bench-tls-"));
  const echo = (socket: Socket) => socket.on("data", (data) => socket.write(data)).on("error", () => {});
  const ca = createCa({ dir });
  const cert = createServerCert({ ca, dir, hosts: ["localhost"] });
  const caPem = readFileSync(ca.cert);
  const plainServer = createServer((s) => echo(s.setNoDelay(true)));
  const tlsServer = createTlsServer(
    tlsServerOptions({ cert: readFileSync(cert.cert), key: readFileSync(cert.key) }),
    (s) => echo(s),
  );
  try {
    const plainPort = await listening(plainServer);
    const tlsPort = await listening(tlsServer);

    let handshakeMs = 0;
    let handshake = { sent: 0, received: 0, protocol: "", cipher: "" };
    for (let i = 0; i < HANDSHAKES; i++) {
      const start = performance.now();
      const { stream, raw } = await open(tlsPort, caPem);
      handshakeMs += performance.now() - start;
      const tls = stream as import("node:tls").TLSSocket;
      handshake = {
        sent: raw.bytesWritten,
        received: raw.bytesRead,
        protocol: tls.getProtocol() ?? "",
        cipher: tls.getCipher().name,
      };
      stream.destroy();
    }

    const plain = await open(plainPort);
    const secure = await open(tlsPort, caPem);
    // A first pass of each warms the JIT, so the order of the measured passes does not matter.
    await roundTrips(plain.stream);
    await roundTrips(secure.stream);
    const before = { plain: plain.raw.bytesWritten, tls: secure.raw.bytesWritten };
    const plainMs = await roundTrips(plain.stream);
    const tlsMs = await roundTrips(secure.stream);
    const wirePlain = (plain.raw.bytesWritten - before.plain) / MESSAGES;
    const wireTls = (secure.raw.bytesWritten - before.tls) / MESSAGES;
    plain.stream.destroy();
    secure.stream.destroy();

    const results = {
      handshake: {
        meanMs: Number((handshakeMs / HANDSHAKES).toFixed(3)),
        clientSentBytes: handshake.sent,
        clientReceivedBytes: handshake.received,
        protocol: handshake.protocol,
        cipher: handshake.cipher,
      },
      perMessage: {
        payloadBytes: MESSAGE_BYTES,
        plainRoundTripMs: Number(plainMs.toFixed(4)),
        tlsRoundTripMs: Number(tlsMs.toFixed(4)),
        tlsTimeRatio: Number((tlsMs / plainMs).toFixed(2)),
        plainWireBytes: wirePlain,
        tlsWireBytes: wireTls,
        tlsOverheadBytes: Math.round(wireTls - wirePlain),
      },
    };
    const summary =
      `handshake ${results.handshake.meanMs} ms, ${handshake.sent} B sent + ${handshake.received} B received (${handshake.protocol}, ${handshake.cipher}); ` +
      `a ${MESSAGE_BYTES}-byte message round trip costs ${results.perMessage.tlsTimeRatio}x plain TCP and ${results.perMessage.tlsOverheadBytes} more bytes each way`;
    return { name: "tls", results, summary };
  } finally {
    plainServer.close();
    tlsServer.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

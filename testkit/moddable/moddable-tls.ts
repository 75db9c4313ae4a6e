/**
 * A TLS connection made as Moddable's TLS client (modules/crypt/ssl) makes it, for the
 * securesocket fake: TLS 1.2 at most with its suites and P-256 as its only ECDHE curve, the chain
 * and dates verified against the one CA, the session resumed from the last one with the same
 * server name unless `cache` is false, and the server name checked as ssl_cert.js checks it (since
 * Moddable 5.10): against the server certificate's subjectAltName while walking the chain the
 * server sent. Seen on Moddable 8.2.3: a lone server certificate fails ("subjectAltName match
 * failed"), and a certificate without authorityKeyIdentifier in the sent chain throws in the walk.
 * The certificates the server sent are read off the wire: in TLS 1.2 the Certificate message
 * crosses in the clear, before ChangeCipherSpec.
 */
import { X509Certificate } from "node:crypto";
import { connect as tcpConnect, isIP } from "node:net";
import { Duplex } from "node:stream";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { hasAuthorityKeyIdentifier } from "../../simulator/certs/served-chain";
import type { TlsRequest } from "./fakes/socket";

/** What Moddable's TLS client offers with config.tls.ECDHE_RSA, as tls_common.json sets it. */
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

const recordHandshake = 22;
const recordChangeCipherSpec = 20;
const handshakeCertificate = 11;
/** The server's first flight is read up to this many bytes; a certificate chain fits easily. */
const maxFlightBytes = 64 * 1024;

/** Reads TLS records from the server until ChangeCipherSpec and keeps the Certificate message's list. */
export class ServerFlight {
  certificates: Buffer[] | undefined;
  #records = Buffer.alloc(0);
  #handshake = Buffer.alloc(0);
  #done = false;

  push(bytes: Buffer): void {
    if (this.#done) return;
    this.#records = Buffer.concat([this.#records, bytes]);
    if (this.#records.length > maxFlightBytes) return this.#finish();
    while (!this.#done && this.#records.length >= 5) {
      const length = this.#records.readUInt16BE(3);
      if (this.#records.length < 5 + length) return;
      const type = this.#records[0];
      const fragment = this.#records.subarray(5, 5 + length);
      this.#records = this.#records.subarray(5 + length);
      if (type === recordChangeCipherSpec) this.#finish();
      else if (type === recordHandshake) this.#readHandshake(fragment);
    }
  }

  #readHandshake(fragment: Buffer): void {
    this.#handshake = Buffer.concat([this.#handshake, fragment]);
    while (this.#handshake.length >= 4) {
      const length = this.#handshake.readUIntBE(1, 3);
      if (this.#handshake.length < 4 + length) return;
      if (this.#handshake[0] === handshakeCertificate)
        this.certificates = certificateList(this.#handshake.subarray(4, 4 + length));
      this.#handshake = this.#handshake.subarray(4 + length);
    }
  }

  #finish(): void {
    this.#done = true;
    this.#records = Buffer.alloc(0);
    this.#handshake = Buffer.alloc(0);
  }
}

/** A Certificate message's body: a 3-byte total length, then each certificate behind a 3-byte length. */
function certificateList(body: Buffer): Buffer[] {
  const certificates: Buffer[] = [];
  const end = Math.min(body.length, 3 + body.readUIntBE(0, 3));
  for (let at = 3; at + 3 <= end;) {
    const length = body.readUIntBE(at, 3);
    certificates.push(Buffer.from(body.subarray(at + 3, at + 3 + length)));
    at += 3 + length;
  }
  return certificates;
}

/**
 * Why Moddable's ssl_cert.js would refuse the handshake, or undefined when it accepts it. `sent` is
 * undefined after a resumed handshake, which carries no certificate and is not checked again.
 */
export function moddableCertificateRefusal(sent: Buffer[] | undefined, serverName: string): string | undefined {
  if (!sent) return undefined;
  if (sent.length < 2) return `subjectAltName match failed for ${serverName} (the server sent no chain)`;
  if (sent.some((der) => !hasAuthorityKeyIdentifier(der)))
    return "ssl_cert.js threw: a certificate of the chain has no authorityKeyIdentifier";
  const leaf = new X509Certificate(sent[0]);
  const named = isIP(serverName) ? leaf.checkIP(serverName) : leaf.checkHost(serverName, { subject: "never" });
  return named ? undefined : `subjectAltName match failed for ${serverName}`;
}

export interface ModdableTlsEvents {
  /** The handshake is done and Moddable would accept it: securesocket's "connected". */
  onConnected(): void;
  /** Moddable's reason to refuse the certificate; the socket is then destroyed with that error. */
  onRefused(reason: string): void;
}

/** Connects as Moddable's TLS client. */
export function moddableTlsConnect(
  host: string,
  port: number,
  tls: TlsRequest,
  sessions: Map<string, Buffer>,
  events: ModdableTlsEvents,
): TLSSocket {
  const flight = new ServerFlight();
  const tcp = tcpConnect(port, host);
  // The TLS layer runs over this pass-through, which lets the server's first flight be read.
  const wire = new Duplex({
    read() {},
    write(chunk, _encoding, done) {
      tcp.write(chunk, done);
    },
    final(done) {
      tcp.end();
      done();
    },
    destroy(error, done) {
      tcp.destroy();
      done(error);
    },
  });
  tcp.on("data", (bytes: Buffer) => {
    flight.push(bytes);
    wire.push(bytes);
  });
  tcp.on("end", () => wire.push(null));
  tcp.on("error", (error) => wire.destroy(error));
  tcp.on("close", () => wire.destroy());
  const socket = tlsConnect({
    socket: wire,
    ...moddableTlsProfile,
    ca: new X509Certificate(Buffer.from(tls.certificate, "base64url")).toString(),
    // SNI carries DNS names only (RFC 6066).
    servername: isIP(tls.serverName) ? undefined : tls.serverName,
    rejectUnauthorized: true,
    // Checked below, as ssl_cert.js checks it.
    checkServerIdentity: () => undefined,
    session: tls.cache ? sessions.get(tls.serverName) : undefined,
  });
  // Only an accepted handshake's session is kept for resumption (the session may come before or after secureConnect).
  let accepted = false;
  socket.on("session", (session: Buffer) => {
    if (tls.cache && accepted) sessions.set(tls.serverName, session);
  });
  socket.once("secureConnect", () => {
    const refusal = moddableCertificateRefusal(
      socket.isSessionReused() ? undefined : flight.certificates,
      tls.serverName,
    );
    if (refusal) {
      events.onRefused(refusal);
      socket.destroy(new Error(refusal));
      return;
    }
    accepted = true;
    const session = socket.getSession();
    if (tls.cache && session) sessions.set(tls.serverName, session);
    events.onConnected();
  });
  return socket;
}

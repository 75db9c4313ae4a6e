/**
 * Fake of Moddable's `securesocket`, shaped as modules/crypt/securesocket/securesocket.js is: an
 * object holding its own `sock` (here the fake `socket`, bridged to a TLS connection that the Node
 * host makes as Moddable's TLS client would, see testkit/moddable/moddable-tls.ts: chain and dates
 * checked against the one CA, and the server certificate's subjectAltName matched against the
 * server name, the host unless `serverName` says otherwise, only along a chain the server sent, as
 * ssl_cert.js does). As the real one does, it reports a disconnect or an error of its socket, or a
 * refused handshake, to its callback and then closes itself inside that socket's callback,
 * deleting its reference to the socket. The constructor keeps the real one's rules: the CA is DER
 * in an ArrayBuffer, TLS 1.2 at most, and a CA outside its validity at this side's Date.now()
 * throws "date validation failed" (a device whose clock SNTP has not set yet). Like the real one,
 * it keeps no `ssl.peerCert`: Moddable deletes it when it processes the server's Finished, before
 * "connected".
 */
import { base64urlEncode } from "../../../sdk/crypto/base64url";
import { askHost } from "./host";
import { Socket, type TlsRequest } from "./socket";

const maxProtocolVersion = 0x303;
/** securesocket.js's estimate of a TLS record's overhead, taken off the free space it reports. */
const recordOverhead = 128;

interface SecureOptions {
  certificate?: unknown;
  protocolVersion?: number;
  serverName?: unknown;
  verify?: boolean;
  cache?: boolean;
}

interface Dictionary {
  host?: string;
  address?: string;
  port?: number;
  secure?: SecureOptions;
}

export default class SecureSocket {
  callback: ((message: number, value?: number) => void) | undefined;
  sock: Socket | undefined;
  closing: number | boolean = false;

  constructor(dictionary: Dictionary) {
    // As on Moddable, the TLS session (and its CA) is checked before the socket is made.
    const sock = new Socket(dictionary, tlsRequest(dictionary));
    this.sock = sock;
    sock.callback = (message, value) => {
      if (this.closing) return;
      switch (message) {
        case Socket.connected:
          // The host made the handshake before reporting the socket connected.
          this.callback?.(Socket.connected);
          break;
        case Socket.readable:
          this.callback?.(Socket.readable, value);
          break;
        case Socket.writable:
          if (value! > recordOverhead) this.callback?.(Socket.writable, value! - recordOverhead);
          break;
        default:
          this.closing = message;
      }
      if (this.closing) {
        this.callback?.(this.closing);
        this.close();
      }
    };
  }

  read(type: unknown): ArrayBuffer {
    return this.sock!.read(type);
  }

  write(data?: ArrayBuffer): number | undefined {
    if (data === undefined) return Math.max(0, (this.sock?.write() ?? 0) - recordOverhead);
    return this.sock!.write(data);
  }

  close(): void {
    this.closing = true;
    this.sock?.close();
    delete this.sock;
  }
}

function tlsRequest(dictionary: Dictionary): TlsRequest {
  const secure = dictionary.secure ?? {};
  if (!(secure.certificate instanceof ArrayBuffer))
    throw new TypeError("securesocket: secure.certificate must be DER in an ArrayBuffer");
  if (secure.protocolVersion !== undefined && !(secure.protocolVersion <= maxProtocolVersion))
    throw new Error("SSL: protocolVersion: not supported");
  // ssl_session.js takes serverName whenever the key exists; its ClientHello then reads `.length`.
  if ("serverName" in secure && typeof secure.serverName !== "string")
    throw new TypeError("securesocket: secure.serverName must be a string");
  if (secure.verify === false) throw new Error("securesocket fake: only verified TLS is bridged");
  const certificate = base64urlEncode(new Uint8Array(secure.certificate));
  const validity = askHost<{ notBefore: number; notAfter: number } | null>({ op: "certificate-validity", certificate });
  if (!validity) throw new TypeError("securesocket: secure.certificate is not a DER X.509 certificate");
  const now = Date.now();
  if (!(validity.notBefore < now && now < validity.notAfter)) throw new Error("date validation failed");
  const serverName = (secure.serverName as string | undefined) ?? dictionary.host ?? dictionary.address ?? "";
  return { certificate, serverName, cache: secure.cache !== false };
}

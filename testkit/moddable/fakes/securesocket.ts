/**
 * Fake of Moddable's `securesocket`: the fake `socket` bridged to a TLS connection that the Node
 * host makes as Moddable's TLS client would (see testkit/moddable/moddable-host.ts): chain and dates
 * checked against the one CA, and the server certificate's subjectAltName matched against the
 * server name (the host unless `serverName` says otherwise) only along a chain the server sent, as
 * ssl_cert.js does. The constructor keeps the real one's rules: the CA is DER in an ArrayBuffer,
 * TLS 1.2 at most, and a CA outside its validity at this side's Date.now() throws "date validation
 * failed" (a device whose clock SNTP has not set yet). A failed handshake is a socket error (-2).
 * Unlike the fake before it, it keeps no `ssl.peerCert`: Moddable deletes it when it processes the
 * server's Finished, before the socket reports "connected".
 */
import { base64urlEncode } from "../../../sdk/crypto/base64url";
import { askHost } from "./host";
import { Socket, type TlsRequest } from "./socket";

const maxProtocolVersion = 0x303;

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

export default class SecureSocket extends Socket {
  constructor(dictionary: Dictionary) {
    // As on Moddable, the TLS session (and its CA) comes before the TCP socket.
    super(dictionary, tlsRequest(dictionary));
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

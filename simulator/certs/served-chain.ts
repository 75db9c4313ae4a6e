/**
 * What Moddable's TLS client (Moddable 5.10 and later, ssl_cert.js) asks of the chain a server
 * sends, checked where the platform loads its certificate: it matches the server name against the
 * subjectAltName only while walking the chain the server sent, so a lone server certificate is
 * refused ("subjectAltName match failed"), and it throws on a certificate there without an
 * authorityKeyIdentifier. Other clients accept both; ESP32 devices do not.
 */
import { X509Certificate } from "node:crypto";

/** DER of the authorityKeyIdentifier extension's OID, 2.5.29.35. */
const authorityKeyIdentifierOid = Buffer.from([0x06, 0x03, 0x55, 0x1d, 0x23]);

/** Whether a DER certificate carries an authorityKeyIdentifier extension. */
export function hasAuthorityKeyIdentifier(der: Buffer): boolean {
  return der.includes(authorityKeyIdentifierOid);
}

/** The certificates of a PEM file, in order. */
export function pemChain(pem: string | Buffer): X509Certificate[] {
  const blocks = pem.toString().match(/-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+-----END CERTIFICATE-----/g) ?? [];
  return blocks.map((block) => new X509Certificate(block));
}

/** Why Moddable devices would refuse this served chain, or undefined when they accept it. */
export function moddableChainProblem(pem: string | Buffer): string | undefined {
  const chain = pemChain(pem);
  if (chain.length < 2)
    return "the TLS certificate file holds the server certificate alone: Moddable devices match the host name only along a chain the server sends and refuse it; append the CA certificate (provisio certs create writes the full chain)";
  const missing = chain.find((certificate) => !hasAuthorityKeyIdentifier(certificate.raw));
  if (missing)
    return `"${missing.subject.replace(/\n/g, ", ")}" in the TLS chain has no authorityKeyIdentifier: Moddable devices fail the handshake on it; reissue it (provisio certs create adds one)`;
  return undefined;
}

/**
 * A development certificate authority and server certificates for the platform's TLS listener,
 * for people without a CA of their own. Keys are ECDSA P-256 (the only curve Moddable's TLS
 * stack supports), made by Node's crypto; Node cannot sign certificates, so the `openssl` CLI
 * does the signing (`openssl ca`, which also takes explicit validity dates). Node's
 * X509Certificate checks every result before it is returned.
 * Made for Moddable's TLS client, which matches the server name against the subjectAltName only
 * while walking the chain the server sent, and throws on a certificate there without an
 * authorityKeyIdentifier: every certificate has one, and the server's file is its full chain
 * (server certificate, then the CA), which the platform sends as it is.
 */
import { execFileSync } from "node:child_process";
import { X509Certificate, generateKeyPairSync, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Where a CA's files are: `cert` (PEM), `der` (the same certificate in DER, for the ESP32 manifest) and `key`. */
export interface CaFiles {
  cert: string;
  der: string;
  key: string;
}

export interface ServerCertFiles {
  /** The chain, PEM: the server certificate, then the CA's. */
  cert: string;
  key: string;
}

export interface Validity {
  notBefore: Date;
  notAfter: Date;
}

export interface ServerCertOptions {
  ca: CaFiles;
  /** Written as DIR/NAME.pem and DIR/NAME.key. */
  dir: string;
  name?: string;
  /** DNS names or IP addresses, each a subjectAltName; the first is also the common name. */
  hosts: readonly string[];
  /** Default: from an hour ago, for 825 days (the longest clients accept for a server certificate). */
  validity?: Validity;
}

const DAY_MS = 86_400_000;
const OPENSSL = process.env.OPENSSL ?? "openssl";
const HOST_PATTERN = /^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*$/;

/** From an hour ago (clock skew), for `days`. */
export function validityFor(days: number): Validity {
  const notBefore = new Date(Date.now() - 3600_000);
  return { notBefore, notAfter: new Date(notBefore.getTime() + days * DAY_MS) };
}

/** An ECDSA P-256 private key file (PKCS#8 PEM, mode 0600); refuses to overwrite one. */
function writeKey(path: string): void {
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "prime256v1" });
  writeFileSync(path, privateKey.export({ type: "pkcs8", format: "pem" }), { mode: 0o600, flag: "wx" });
}

/** GeneralizedTime as `openssl ca -startdate/-enddate` take it: YYYYMMDDHHMMSSZ. */
function asn1Time(date: Date): string {
  return date
    .toISOString()
    .replace(/[-:T]/g, "")
    .replace(/\.\d+Z$/, "Z");
}

function subjectAltName(hosts: readonly string[]): string {
  return hosts
    .map((host) => {
      if (isIP(host)) return `IP:${host}`;
      if (!HOST_PATTERN.test(host) || host.length > 253)
        throw new Error(`not a host name or IP address: ${JSON.stringify(host)}`);
      return `DNS:${host}`;
    })
    .join(",");
}

/**
 * Signs a certificate for `keyFile` with `openssl ca`: by the CA, or by the key itself when
 * `issuer` is absent (the CA's own certificate). Returns the PEM text.
 */
function sign(keyFile: string, commonName: string, extensions: string, validity: Validity, issuer?: CaFiles): string {
  const work = mkdtempSync(join(tmpdir(), "provisio-openssl-"));
  try {
    const config = join(work, "openssl.cnf");
    writeFileSync(join(work, "index.txt"), "");
    writeFileSync(
      config,
      [
        "[ca]",
        "default_ca = dev",
        "[dev]",
        `database = ${join(work, "index.txt")}`,
        `new_certs_dir = ${work}`,
        // Required by `openssl ca` even though -rand_serial picks the serial numbers.
        `serial = ${join(work, "serial")}`,
        "default_md = sha256",
        "policy = anything",
        "unique_subject = no",
        "[anything]",
        "commonName = supplied",
        "[req]",
        "distinguished_name = dn",
        "prompt = no",
        "[dn]",
        `CN = ${commonName}`,
        "[extensions]",
        extensions,
        "",
      ].join("\n"),
    );
    const csr = join(work, "request.csr");
    const out = join(work, "cert.pem");
    execFileSync(OPENSSL, ["req", "-new", "-config", config, "-key", keyFile, "-out", csr], { stdio: "pipe" });
    const signer = issuer ? ["-cert", issuer.cert, "-keyfile", issuer.key] : ["-selfsign", "-keyfile", keyFile];
    execFileSync(
      OPENSSL,
      [
        "ca",
        "-batch",
        "-notext",
        "-config",
        config,
        ...signer,
        "-in",
        csr,
        "-out",
        out,
        "-extensions",
        "extensions",
        "-rand_serial",
        "-startdate",
        asn1Time(validity.notBefore),
        "-enddate",
        asn1Time(validity.notAfter),
      ],
      { stdio: "pipe" },
    );
    return readFileSync(out, "utf8");
  } catch (error) {
    // openssl starts with "Using configuration from …"; its reason is on the later lines.
    const lines = ((error as { stderr?: Buffer }).stderr?.toString() ?? "")
      .split("\n")
      .filter((l) => l && !l.startsWith("Using configuration"));
    throw new Error(`openssl failed: ${lines.slice(0, 2).join("; ") || (error as Error).message}`, { cause: error });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

/** PEM to DER: the base64 between the armour lines. */
export function pemToDer(pem: string): Buffer {
  const match = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/.exec(pem);
  if (!match) throw new Error("no PEM certificate found");
  return Buffer.from(match[1].replace(/\s+/g, ""), "base64");
}

/** Makes a CA (ca.pem, ca.der, ca.key) in `dir`; refuses to overwrite an existing one. */
export function createCa(options: { dir: string; name?: string; validity?: Validity }): CaFiles {
  const files: CaFiles = {
    cert: join(options.dir, "ca.pem"),
    der: join(options.dir, "ca.der"),
    key: join(options.dir, "ca.key"),
  };
  for (const path of Object.values(files)) if (existsSync(path)) throw new Error(`${path} exists already`);
  mkdirSync(options.dir, { recursive: true });
  writeKey(files.key);
  const name = options.name ?? `Provisio development CA ${randomBytes(4).toString("hex")}`;
  const extensions = [
    "basicConstraints = critical, CA:TRUE, pathlen:0",
    "keyUsage = critical, keyCertSign, cRLSign",
    "subjectKeyIdentifier = hash",
    "authorityKeyIdentifier = keyid:always",
  ].join("\n");
  const pem = sign(files.key, name, extensions, options.validity ?? validityFor(3650));
  const cert = new X509Certificate(pem);
  if (!cert.ca || !cert.checkIssued(cert)) throw new Error("openssl made a CA certificate that is not one");
  writeFileSync(files.cert, pem);
  writeFileSync(files.der, pemToDer(pem));
  return files;
}

/** Issues a server certificate for `hosts`, signed by the CA. */
export function createServerCert(options: ServerCertOptions): ServerCertFiles {
  if (options.hosts.length === 0) throw new Error("a server certificate needs at least one host");
  const name = options.name ?? "server";
  const files: ServerCertFiles = { cert: join(options.dir, `${name}.pem`), key: join(options.dir, `${name}.key`) };
  if (existsSync(files.cert)) throw new Error(`${files.cert} exists already`);
  mkdirSync(options.dir, { recursive: true });
  const extensions = [
    "basicConstraints = critical, CA:FALSE",
    "keyUsage = critical, digitalSignature",
    "extendedKeyUsage = serverAuth",
    `subjectAltName = ${subjectAltName(options.hosts)}`,
    "subjectKeyIdentifier = hash",
    "authorityKeyIdentifier = keyid:always",
  ].join("\n");
  writeKey(files.key);
  const pem = sign(files.key, options.hosts[0], extensions, options.validity ?? validityFor(825), options.ca);
  const cert = new X509Certificate(pem);
  const ca = new X509Certificate(readFileSync(options.ca.cert));
  if (!cert.checkIssued(ca) || !cert.verify(ca.publicKey))
    throw new Error("openssl made a certificate the CA did not sign");
  for (const host of options.hosts)
    if (!(isIP(host) ? cert.checkIP(host) : cert.checkHost(host)))
      throw new Error(`the certificate does not name ${host}`);
  writeFileSync(files.cert, pem + readFileSync(options.ca.cert, "utf8"));
  return files;
}

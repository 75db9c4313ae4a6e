/**
 * certificateNamesHost (targets/moddable/certificate-names.ts), the host-name check the ESP32
 * transport makes on the certificate Moddable's TLS session keeps: a differential against Node's
 * X509Certificate.checkHost/checkIP (OpenSSL's X509_check_host/_ip) on real certificates, set to
 * RFC 6125's rules (no partial or multi-label wildcards, no common-name fallback), and the DER
 * walker on malformed input.
 */
import { build } from "esbuild";
import fc from "fast-check";
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { isIPv6 } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { esbuildOptions } from "../../scripts/build";
import { createCa, createServerCert, pemToDer } from "../../simulator/certs/development-ca";
import { certificateNamesHost } from "../../targets/moddable/certificate-names";

const rfc6125 = { subject: "never", wildcards: true, partialWildcards: false, multiLabelWildcards: false, singleLabelSubdomains: false } as const;
const dottedQuad = /^\d{1,3}(\.\d{1,3}){3}$/;

interface Sample {
  what: string;
  der: Buffer;
  node: X509Certificate;
}

let dir: string;
let samples: Sample[];

/** A self-signed P-256 certificate made by `openssl req -x509`, with `subjectAltName` when given. */
function opensslCertificate(name: string, subjectAltName?: string): Buffer {
  const key = join(dir, `${name}.key`);
  const cert = join(dir, `${name}.pem`);
  execFileSync(
    process.env.OPENSSL ?? "openssl",
    ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost",
      ...(subjectAltName ? ["-addext", `subjectAltName=${subjectAltName}`] : [])],
    { stdio: "pipe" },
  );
  return pemToDer(readFileSync(cert, "utf8"));
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "provisio-certificate-names-"));
  const ca = createCa({ dir: join(dir, "ca") });
  const server = createServerCert({
    ca,
    dir,
    hosts: ["localhost", "platform.example.org", "Mixed.Case.Example", "xn--bcher-kva.example", "a-b.c-d.example", "10.1.2.3", "127.0.0.1"],
  });
  const wildcards = opensslCertificate(
    "wildcards",
    "DNS:*.a.com,DNS:f*.b.com,DNS:*.com,DNS:xn--*.c.com,DNS:*,DNS:*.*.d.com,DNS:x.*.e.com,DNS:Exact.Example.org,DNS:dot.example.,IP:10.9.8.7,IP:::1",
  );
  const sample = (what: string, der: Buffer): Sample => ({ what, der, node: new X509Certificate(der) });
  samples = [
    sample("development CA server certificate", pemToDer(readFileSync(server.cert, "utf8"))),
    sample("wildcards, IPv4 and IPv6", wildcards),
    sample("no subjectAltName", opensslCertificate("no-san")),
  ];
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Node's answer: an IPv4 literal against the IP entries (an invalid address names nothing), else a DNS name. */
function nodeAnswer(node: X509Certificate, host: string): boolean {
  if (!dottedQuad.test(host)) return node.checkHost(host, rfc6125) !== undefined;
  try {
    return node.checkIP(host) !== undefined;
  } catch {
    return false; // "Invalid IP", e.g. 256.1.2.3
  }
}

/**
 * Where this check is stricter than OpenSSL on purpose: OpenSSL lets a host that starts with a
 * dot match a wildcard (".a.com" for "*.a.com"), and "*.a.com" match "*.a.com"; neither is a host name.
 */
const stricterThanOpenssl = (host: string) => host.startsWith(".") || host.includes("*");

const hosts = [
  "localhost", "LOCALHOST", "localhost.", "localhost..", ".localhost", "x.localhost", "localhos", "localhostx", "",
  "platform.example.org", "Platform.Example.ORG", "platform.example.org.", "platform.example", "example.org", "x.platform.example.org",
  "mixed.case.example", "MIXED.CASE.EXAMPLE", "xn--bcher-kva.example", "XN--BCHER-KVA.example", "bücher.example", "a-b.c-d.example",
  "x.a.com", "X.A.COM", "a.com", "x.y.a.com", "x.a.com.", "-.a.com", "x_y.a.com", "xn--bcher-kva.a.com", "bücher.a.com", "*.a.com", ".a.com", "..a.com",
  "fx.b.com", "f.b.com", "f*.b.com", "x.com", "com", "xn--q.c.com", "q.c.com", "*", "a", "x.y.d.com", "y.d.com", "x.y.e.com", "x.q.e.com",
  "exact.example.org", "EXACT.example.ORG", "exact.example.org.", "dot.example", "dot.example.", " localhost", "localhost ", "local host",
  "10.1.2.3", "10.1.2.03", "010.1.2.3", "10.1.2.4", "127.0.0.1", "10.9.8.7", "256.1.2.3", "10.1.2", "10.1.2.3.", " 10.1.2.3", "1.2.3.4.5", "10.1.2.3.example",
];

describe("certificateNamesHost agrees with OpenSSL's RFC 6125 matching", () => {
  test("every listed host on every certificate", () => {
    const disagreements: string[] = [];
    let namedSomewhere = 0;
    for (const { what, der, node } of samples)
      for (const host of hosts) {
        const ours = certificateNamesHost(der, host);
        namedSomewhere += ours ? 1 : 0;
        const expected = stricterThanOpenssl(host) ? false : nodeAnswer(node, host);
        if (ours !== expected) disagreements.push(`${what} / ${JSON.stringify(host)}: ours ${ours}, expected ${expected}`);
      }
    expect(disagreements).toEqual([]);
    // The list is not all misses: exact names, case changes, wildcards and addresses match.
    expect(namedSomewhere).toBeGreaterThanOrEqual(15);
  });

  test("random host names built from the certificates' labels", () => {
    const label = fc.constantFrom("localhost", "x", "a", "com", "Example", "org", "platform", "b", "f", "d", "e", "*", "", "xn--q", "c", "EXACT", "dot", "10", "1");
    const host = fc.array(label, { minLength: 1, maxLength: 5 }).map((labels) => labels.join("."));
    fc.assert(
      fc.property(host, fc.constantFrom(...samples), (name, { der, node }) => {
        expect(certificateNamesHost(der, name)).toBe(stricterThanOpenssl(name) ? false : nodeAnswer(node, name));
      }),
      { numRuns: 3000 },
    );
  });

  test("the places it differs from OpenSSL on purpose", () => {
    const [, wildcards] = samples;
    // OpenSSL's answers first, so these stay known differences rather than silent ones.
    expect(wildcards.node.checkHost(".a.com", rfc6125)).toBe("*.a.com");
    expect(wildcards.node.checkHost("*.a.com", rfc6125)).toBe("*.a.com");
    expect(certificateNamesHost(wildcards.der, ".a.com")).toBe(false);
    expect(certificateNamesHost(wildcards.der, "*.a.com")).toBe(false);
    // IPv6 entries are not read: the device connects to IPv4 addresses or names.
    expect(isIPv6("::1") && wildcards.node.checkIP("::1")).toBe("::1");
    expect(certificateNamesHost(wildcards.der, "::1")).toBe(false);
  });

  test("no common-name fallback: a certificate without subjectAltName names no host", () => {
    const [, , noSan] = samples;
    expect(noSan.node.subject).toContain("CN=localhost");
    expect(noSan.node.checkHost("localhost")).toBe("localhost"); // OpenSSL's default falls back to the CN
    expect(certificateNamesHost(noSan.der, "localhost")).toBe(false);
  });
});

describe("malformed DER names nothing and never throws", () => {
  test("every truncation of every certificate", () => {
    for (const { der } of samples)
      for (let length = 0; length < der.length; length++) {
        expect(certificateNamesHost(der.subarray(0, length), "localhost")).toBe(false);
        expect(certificateNamesHost(der.subarray(0, length), "10.1.2.3")).toBe(false);
      }
  });

  test("every byte of the certificate set to length-like values (indefinite, long forms, 0xff)", () => {
    const [server] = samples;
    for (let at = 0; at < server.der.length; at++)
      for (const value of [0x00, 0x7f, 0x80, 0x81, 0x83, 0x84, 0x89, 0xff]) {
        const mutated = Buffer.from(server.der);
        mutated[at] = value;
        expect(typeof certificateNamesHost(mutated, "localhost")).toBe("boolean");
      }
  });

  test("an indefinite length or a length past the end around the names", () => {
    const [server] = samples;
    const der = server.der;
    expect(certificateNamesHost(der, "localhost")).toBe(true);
    // The certificate's own SEQUENCE with an indefinite length (BER, not DER), end-of-contents appended.
    expect(der[1]).toBe(0x82);
    const indefinite = Buffer.concat([Buffer.from([0x30, 0x80]), der.subarray(4), Buffer.from([0, 0])]);
    expect(certificateNamesHost(indefinite, "localhost")).toBe(false);
    // The dNSName "localhost" claiming one byte more than its SEQUENCE holds (the first name; the
    // subject's common name is also "localhost", earlier).
    const name = der.lastIndexOf(Buffer.from("localhost"));
    expect(der[name - 2]).toBe(0x82);
    const generalNames = name - 4;
    expect(der[generalNames]).toBe(0x30);
    const pastEnd = Buffer.from(der);
    pastEnd[name - 1] = der[generalNames + 1] - 1;
    expect(certificateNamesHost(pastEnd, "localhost")).toBe(false);
    // A length of four length bytes (4 GB) is refused before it is read.
    const huge = Buffer.concat([Buffer.from([0x30, 0x84, 0, 0]), der.subarray(2)]);
    expect(certificateNamesHost(huge, "localhost")).toBe(false);
  });

  test("random bytes, and random bytes behind a certificate's first 64", () => {
    const [server] = samples;
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), fc.boolean(), (bytes, keepHead) => {
        const der = keepHead ? Buffer.concat([server.der.subarray(0, 64), bytes]) : bytes;
        expect(certificateNamesHost(der, "localhost")).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });
});

test("it ships on the device: under 1.5 KB minified", async () => {
  const result = await build({ ...esbuildOptions, entryPoints: ["targets/moddable/certificate-names.ts"], format: "esm" });
  expect(result.outputFiles![0].text.length).toBeLessThan(1536);
});

/**
 * Does a server certificate name the host the device connected to? Moddable's TLS client checks
 * the chain and dates but not the name, so the transport asks this of the leaf certificate.
 * Reads only the subjectAltName extension (no common-name fallback, as RFC 6125 and browsers do)
 * with a DER walker that follows one fixed path, checks every length against the buffer and
 * answers false, never throws, on anything malformed.
 */

/** A dotted-quad address (leading zeros read as decimal, as OpenSSL reads them). */
export const ipv4Literal = /^\d{1,3}(\.\d{1,3}){3}$/;

const sequence = 0x30;
const objectIdentifier = 0x06;
const octetString = 0x04;
const extensionsTag = 0xa3; // [3] EXPLICIT in TBSCertificate
const dnsNameTag = 0x82; // GeneralName [2] IA5String
const ipAddressTag = 0x87; // GeneralName [7] OCTET STRING
const subjectAltNameId = [0x55, 0x1d, 0x11]; // 2.5.29.17
const star = 0x2a;
const dot = 0x2e;

/** A DER element: [tag, start of its contents, end of its contents]. */
type Element = [number, number, number];

/** The element at `at`, which must end by `end`; undefined for indefinite or over-long lengths and multi-byte tags. */
function element(der: Uint8Array, at: number, end: number): Element | undefined {
  if (at + 2 > end) return undefined;
  const tag = der[at];
  let length = der[at + 1];
  let start = at + 2;
  if ((tag & 0x1f) === 0x1f || length === 0x80) return undefined;
  if (length > 0x80) {
    const count = length - 0x80;
    // Three length bytes are 16 MB, more than any certificate.
    if (count > 3 || start + count > end) return undefined;
    for (length = 0; start < at + 2 + count; start++) length = length * 256 + der[start];
  }
  return start + length <= end ? [tag, start, start + length] : undefined;
}

/** The first child of `parent` that `accept` takes; undefined when none does or a child is malformed. */
function child(der: Uint8Array, parent: Element | undefined, accept: (child: Element) => boolean): Element | undefined {
  if (!parent) return undefined;
  for (let at = parent[1]; at < parent[2]; ) {
    const found = element(der, at, parent[2]);
    if (!found) return undefined;
    if (accept(found)) return found;
    at = found[2];
  }
  return undefined;
}

/** The first element inside `parent` (the one inside an EXPLICIT tag or an OCTET STRING), when it has `tag`. */
function inner(der: Uint8Array, parent: Element | undefined, tag: number): Element | undefined {
  const found = parent && element(der, parent[1], parent[2]);
  return found && found[0] === tag ? found : undefined;
}

/** Whether der[start, end) is `name` (lower case) in any ASCII case. */
function sameName(der: Uint8Array, start: number, end: number, name: string): boolean {
  if (end - start !== name.length) return false;
  for (let i = start; i < end; i++) if ((der[i] >= 0x41 && der[i] <= 0x5a ? der[i] + 0x20 : der[i]) !== name.charCodeAt(i - start)) return false;
  return true;
}

/**
 * RFC 6125 matching of one dNSName against `host` (lower case): exact, or a wildcard that is the
 * whole left-most label of a name with at least two more labels, standing for exactly one
 * non-empty letters-digits-hyphens label.
 */
function dnsNameMatches(der: Uint8Array, start: number, end: number, host: string): boolean {
  if (der[start] === star && der[start + 1] === dot && der.subarray(start + 2, end).includes(dot)) {
    const firstDot = host.indexOf(".");
    return firstDot > 0 && /^[a-z\d-]+$/.test(host.slice(0, firstDot)) && sameName(der, start + 1, end, host.slice(firstDot));
  }
  return sameName(der, start, end, host);
}

/**
 * Whether the DER certificate's subjectAltName names `host`: a DNS name (ASCII: IDNs as A-labels)
 * against its dNSName entries, an IPv4 literal against its 4-byte iPAddress entries only. False
 * without that extension, and for anything else as `host` (IPv6, `*`, spaces).
 */
export function certificateNamesHost(der: Uint8Array, host: string): boolean {
  if (!/^[\w.-]+$/.test(host)) return false;
  const address = ipv4Literal.test(host) ? host.split(".").map(Number) : undefined;
  const name = host.toLowerCase();
  const tbs = inner(der, inner(der, [0, 0, der.length], sequence), sequence);
  const extensions = inner(der, child(der, tbs, (e) => e[0] === extensionsTag), sequence);
  const san = child(der, extensions, (extension) => {
    const id = extension[0] === sequence ? inner(der, extension, objectIdentifier) : undefined;
    return !!id && id[2] - id[1] === 3 && subjectAltNameId.every((byte, i) => der[id[1] + i] === byte);
  });
  const names = inner(der, child(der, san, (e) => e[0] === octetString), sequence);
  if (!names) return false;
  return !!child(der, names, ([tag, start, end]) =>
    address
      ? tag === ipAddressTag && end - start === 4 && address.every((byte, i) => der[start + i] === byte)
      : tag === dnsNameTag && dnsNameMatches(der, start, end, name),
  );
}

/**
 * Fake of Moddable's `securesocket`: TLS is not bridged in these tests (plain TCP to the local
 * platform), so it only checks the option's shape the adapter builds and refuses to connect.
 */
export default class SecureSocket {
  constructor(dictionary: { secure?: { certificate?: unknown; protocolVersion?: number } }) {
    const secure = dictionary.secure;
    if (!secure || !(secure.certificate instanceof ArrayBuffer)) throw new TypeError("securesocket: secure.certificate must be DER in an ArrayBuffer");
    if (secure.protocolVersion !== undefined && secure.protocolVersion > 0x303) throw new RangeError("securesocket: TLS 1.2 at most");
    throw new Error("securesocket fake: TLS is not bridged to the host");
  }
}

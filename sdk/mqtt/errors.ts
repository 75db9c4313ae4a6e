/**
 * Typed errors. The decoder returns them instead of throwing, so malformed bytes from the network
 * never raise an exception into the host; the client reports them through its callbacks.
 */
import { CodedError, codedErrorClass } from "../errors";
import type { LinkFailure } from "../ports";

export type MqttProtocolErrorCode =
  /** The remaining length uses more than 4 bytes or ends the packet early. */
  | "malformed-remaining-length"
  /** Reserved flag bits or a packet type a server must not send. */
  | "bad-flags"
  | "unknown-packet-type"
  /** A field runs past the end of its packet, or bytes are left over after the last field. */
  | "truncated"
  | "invalid-utf8"
  /** The packet's total size exceeds the configured maximum. */
  | "packet-too-large"
  /** A field holds a value MQTT 3.1.1 forbids (packet id 0, QoS 3, bad return code...). */
  | "invalid-field"
  /** A packet arrived that the session state does not allow (a second CONNACK...). */
  | "unexpected-packet"
  /** `encode` was given a packet it cannot represent. */
  | "invalid-packet";

export const MqttProtocolError = codedErrorClass<MqttProtocolErrorCode>("MqttProtocolError");
export type MqttProtocolError = InstanceType<typeof MqttProtocolError>;

/** CONNACK return codes 1-5 of MQTT 3.1.1, by name. Frozen, as every table here: preloaded on the device, it then stays in flash. */
export const connackErrorCodes = Object.freeze([
  "",
  "unacceptable-protocol-version",
  "identifier-rejected",
  "server-unavailable",
  "bad-username-or-password",
  "not-authorized",
] as const);

export type ConnackErrorCode = Exclude<(typeof connackErrorCodes)[number], ""> | "unknown-return-code";

/** The broker refused the CONNECT. Return codes 4 and 5 are authorization failures. */
export class MqttConnectError extends CodedError<ConnackErrorCode> {
  static override className = "MqttConnectError";
  readonly returnCode: number;
  constructor(returnCode: number) {
    const code: ConnackErrorCode = connackErrorCodes[returnCode] || "unknown-return-code";
    super(code, `broker refused the connection: ${code} (return code ${returnCode})`);
    this.returnCode = returnCode;
  }

  get isAuthorizationFailure(): boolean {
    return this.returnCode === 4 || this.returnCode === 5;
  }
}

/** The transport's byte stream ended or could not open; `code` says why, as the port could tell. */
export const LinkError = codedErrorClass<LinkFailure>("LinkError");
export type LinkError = InstanceType<typeof LinkError>;

/**
 * The parts a device-side scenario needs: a virtual clock, a seeded Random, a fake broker, a store,
 * a recording log and a device key; plus the platform's side of the provisioning topics.
 */
import { base64urlDecode, base64urlEncode } from "../../sdk/crypto/base64url";
import { generateDeviceKeyPair, type DeviceKeyPair } from "../../sdk/crypto/device-key";
import { provisioningClientId, verificationCode } from "../../sdk/crypto/verification";
import { utf8Decode, utf8Encode } from "../../sdk/utf8";
import { FakeBroker } from "./fake-broker";
import { MemoryStore } from "./memory-store";
import { RecordingLog } from "./recording-log";
import { sealRegistration } from "./sealed-registration";
import { SeededRandom } from "./seeded-random";
import { VirtualClock } from "./virtual-clock";

export type Json = Record<string, unknown>;

export class DeviceRig {
  readonly clock = new VirtualClock();
  readonly random: SeededRandom;
  readonly broker = new FakeBroker(this.clock);
  readonly store = new MemoryStore();
  readonly log = new RecordingLog();
  readonly keyPair: DeviceKeyPair;
  readonly clientId: string;
  /** The nonce the fake platform answers init with. */
  readonly platformNonce = Uint8Array.from({ length: 16 }, (_, i) => i * 7 + 1);

  constructor(seed = 1) {
    this.random = new SeededRandom(seed);
    this.keyPair = generateDeviceKeyPair(this.random);
    this.clientId = provisioningClientId(this.keyPair.publicKey);
  }

  /** Runs every event due in the next `ms` (0: only what is due now). */
  advance(ms = 0): void {
    this.clock.advance(ms);
  }

  /** The JSON bodies the device published to `prov/{clientId}/req/{kind}`, oldest first. */
  requests(kind: "init" | "complete"): Json[] {
    const topic = `prov/${this.clientId}/req/${kind}`;
    return this.broker.received
      .filter((p) => p.topic === topic)
      .map((p) => JSON.parse(utf8Decode(p.payload) ?? "null") as Json);
  }

  last(kind: "init" | "complete"): Json {
    const all = this.requests(kind);
    if (all.length === 0) throw new Error(`no ${kind} request yet`);
    return all[all.length - 1];
  }

  /** Publishes a reply (a JSON object or raw bytes) to the device's res topic and lets it arrive. */
  reply(kind: "init" | "complete", body: Json | Uint8Array): void {
    const connection = this.broker.current;
    if (!connection) throw new Error("no connection");
    connection.deliver(
      `prov/${this.clientId}/res/${kind}`,
      body instanceof Uint8Array ? body : utf8Encode(JSON.stringify(body)),
    );
    this.advance();
  }

  initReply(operationId: string, extra: Json = {}): Json {
    return {
      rid: this.last("init").rid,
      status: 200,
      operationId,
      nonce: base64urlEncode(this.platformNonce),
      expiresIn: 900,
      pollInterval: 5,
      ...extra,
    };
  }

  /** The code the platform computes from the last reveal. */
  codeFor(operationId: string): string {
    const deviceNonce = base64urlDecode(this.last("complete").deviceNonce as string)!;
    return verificationCode(this.keyPair.publicKey, deviceNonce, this.platformNonce, operationId);
  }

  approval(
    operationId: string,
    token: string,
    rid: string | null = this.last("complete").rid as string,
    deviceId = "pump-0042",
  ): Json {
    return {
      rid,
      status: 200,
      operationId,
      workspaceId: "ws_main",
      deviceId,
      registration: sealRegistration(token, this.keyPair.publicKey),
      expiresIn: 2592000,
    };
  }
}

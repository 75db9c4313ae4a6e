/**
 * Runs inside xsnap for bench/crypto.ts, bundled into the global `cryptoBench`: the device's NaCl
 * subset (sdk/crypto/nacl) and tweetnacl's two builds, each doing the same three jobs on the same
 * inputs, one job a crank, so that the meter counts exactly one operation.
 */
import naclFast from "tweetnacl";
import naclSmall from "tweetnacl/nacl.js";
import { openBox, sha512, x25519 } from "../sdk/crypto/nacl/index";
import { collectGarbage, jsonBuffer } from "../simulator/xs-engine/inside";
import { SeededRandom } from "../testkit/device/seeded-random";

interface Implementation {
  x25519(scalar: Uint8Array, u: Uint8Array): Uint8Array;
  openBox(
    sealed: Uint8Array,
    nonce: Uint8Array,
    theirPublicKey: Uint8Array,
    mySecretKey: Uint8Array,
  ): Uint8Array | null | undefined;
  sha512(bytes: Uint8Array): Uint8Array;
}

const tweetnacl = (nacl: typeof naclFast): Implementation => ({
  x25519: nacl.scalarMult,
  openBox: nacl.box.open,
  sha512: nacl.hash,
});
const implementations: Record<string, Implementation> = {
  ours: { x25519, openBox, sha512 },
  naclFast: tweetnacl(naclFast),
  naclSmall: tweetnacl(naclSmall),
};

interface Inputs {
  scalar: Uint8Array;
  u: Uint8Array;
  sealed: Uint8Array;
  nonce: Uint8Array;
  serverPublicKey: Uint8Array;
  deviceSecretKey: Uint8Array;
  kilobyte: Uint8Array;
}

let inputs: Inputs | undefined;
const outputs: Record<string, string> = {};

function bytes(random: SeededRandom, length: number): Uint8Array {
  const out = new Uint8Array(length);
  random.fill(out);
  return out;
}

function hex(value: Uint8Array | null | undefined): string {
  if (!value) return String(value);
  let text = "";
  for (let i = 0; i < value.length; i++) text += (value[i] + 256).toString(16).slice(1);
  return text;
}

/** Inputs from a seeded Random; the box is sealed by tweetnacl, as the platform seals tokens. */
export function setup(): ArrayBuffer {
  const random = new SeededRandom(2026);
  const server = naclFast.box.keyPair.fromSecretKey(bytes(random, 32));
  const device = naclFast.box.keyPair.fromSecretKey(bytes(random, 32));
  const nonce = bytes(random, 24);
  const sealed = naclFast.box(bytes(random, 200), nonce, device.publicKey, server.secretKey);
  inputs = {
    scalar: bytes(random, 32),
    u: server.publicKey,
    sealed,
    nonce,
    serverPublicKey: server.publicKey,
    deviceSecretKey: device.secretKey,
    kilobyte: bytes(random, 1024),
  };
  return jsonBuffer({ sealedLength: sealed.length });
}

/** Collects garbage and does nothing else: the baseline crank. */
export function idle(): void {
  collectGarbage();
}

export function measure(name: string, job: "x25519" | "openBox" | "sha512"): void {
  collectGarbage();
  const implementation = implementations[name];
  const i = inputs!;
  let output: Uint8Array | null | undefined;
  if (job === "x25519") output = implementation.x25519(i.scalar, i.u);
  else if (job === "openBox") output = implementation.openBox(i.sealed, i.nonce, i.serverPublicKey, i.deviceSecretKey);
  else output = implementation.sha512(i.kilobyte);
  outputs[`${name} ${job}`] = hex(output);
}

/** Every output so far, to check the implementations agree. */
export function results(): ArrayBuffer {
  return jsonBuffer(outputs);
}

/**
 * Runs inside xsnap: the example app (targets/moddable/main.ts) with the real adapters and core on
 * the fakes of testkit/moddable/fakes. The host fills `mc/config` and calls main() through start().
 * JavaScript so the repo's Node tsconfig does not follow it into targets/moddable, whose modules
 * only @moddable/typings declares (targets/moddable/tsconfig.json checks those).
 */
import "./fakes/host";
// The platform's own Math.random is in place before the built-ins are frozen.
import "moddable-runtime";
import "./fakes/preloaded-builtins";
import { base64urlDecode, base64urlEncode } from "../../sdk/crypto/base64url";
import { hostRandom, ModdableTransport } from "../../targets/moddable/index";
import main from "../../targets/moddable/main";
import { collectGarbage, jsonBuffer } from "../../simulator/xs-engine/inside";
import config from "./fakes/config";
import { definePartition } from "./fakes/flash";
import Resource, { defineResource } from "./fakes/resource";
import SecureSocket from "./fakes/securesocket";
import { openSockets } from "./fakes/socket";
import Time from "./fakes/time";
import { pendingTimers } from "./fakes/timer";

/**
 * Fills mc/config and runs the app's main(), as Moddable does at boot, with the flash partition
 * the settings name (as the ESP32's partition table would have it).
 * @param {Record<string, unknown>} settings
 */
export function start(settings, partitionBytes = 0) {
  Object.assign(config, settings);
  if (typeof settings.storePartition === "string") definePartition(settings.storePartition, partitionBytes);
  main();
}

/**
 * `count` bytes from the app's Random port, base64url.
 * @param {number} count
 */
export function randomBytes(count) {
  const bytes = new Uint8Array(count);
  hostRandom.fill(bytes);
  return jsonBuffer(base64urlEncode(bytes));
}

/**
 * Defines a resource (as a manifest's `resources` would) from base64url bytes.
 * @param {string} path
 * @param {string} base64url
 */
export function addResource(path, base64url) {
  defineResource(path, base64urlDecode(base64url).slice().buffer);
}

/**
 * `secure` with its `certificate`, when a string, replaced by that resource.
 * @param {Record<string, unknown>} secure
 */
function withResource(secure) {
  return {
    ...secure,
    certificate: typeof secure.certificate === "string" ? new Resource(secure.certificate) : secure.certificate,
  };
}

/**
 * Constructs a SecureSocket as `secure` says (`certificate` names a resource) and reports through
 * trace whether the constructor threw, for the tests of the fake's rules.
 * @param {number} port
 * @param {Record<string, unknown>} secure
 */
export function constructSecureSocket(port, secure) {
  try {
    new SecureSocket({ host: "127.0.0.1", port, secure: withResource(secure) }).close();
    trace("securesocket constructed\n");
  } catch (error) {
    trace(`securesocket threw ${error instanceof Error ? error.message : String(error)}\n`);
  }
}

/** The fakes' state after a full collection, so the crank's meter counts live slots only. */
export function status() {
  collectGarbage();
  return jsonBuffer({ sockets: openSockets(), timers: pendingTimers(), ticks: Time.ticks });
}

/**
 * The transport alone, for its own tests: connects to the host's echo server, writes `sizes` (one
 * write() each, bytes `i & 0xff`), and reports events and echoed bytes up through trace.
 */
/**
 * @param {number} port
 * @param {number[]} sizes
 * @param {number} [maxQueuedBytes]
 */
export function echo(port, sizes, maxQueuedBytes) {
  let received = 0;
  let mismatch = -1;
  const connection = new ModdableTransport({ host: "127.0.0.1", port, maxQueuedBytes }).connect({
    onOpen: () => trace("echo open\n"),
    onData(bytes) {
      for (let i = 0; i < bytes.length; i++)
        if (mismatch < 0 && bytes[i] !== ((received + i) & 0xff)) mismatch = received + i;
      received += bytes.length;
      trace(`echo received ${received} mismatch ${mismatch}\n`);
    },
    onClose: (reason, message) => trace(`echo closed ${reason} ${message}\n`),
  });
  let offset = 0;
  for (const size of sizes) {
    const bytes = new Uint8Array(size);
    for (let i = 0; i < size; i++) bytes[i] = (offset + i) & 0xff;
    offset += size;
    connection.write(bytes);
  }
}

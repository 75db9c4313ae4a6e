/**
 * `npm run build` writes dist/moddable/provisio-sdk.js, the ES module Moddable's manifest loads
 * (tests/moddable/manifest.test.ts checks what it imports). xsnap evaluates scripts, not modules,
 * so the test bundles it again as a script (with the fake of Moddable's `crypt` it imports) and
 * uses it inside XS, with the built-ins frozen as Moddable's xsl leaves them: against mqtt-packet's
 * bytes, and for the names of its error classes, which minification renamed.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generate } from "mqtt-packet";
import { distPath, repoRoot } from "../../scripts/build";
import { bundleModdableOnFakes } from "../../scripts/build-moddable";
import { topLevelVariables } from "../../scripts/top-level-const";
import { XsWorker, parseJson } from "../../simulator/xs-engine/worker";

let worker: XsWorker;

beforeAll(async () => {
  execFileSync("npm", ["run", "--silent", "build"], { cwd: repoRoot, stdio: "pipe" });
  worker = new XsWorker({ name: "bundle" });
  worker.start();
  await worker.evaluate(await bundleModdableOnFakes("testkit/moddable/fakes/preloaded-builtins.ts", "frozen", {}));
  // The device build takes SHA-512 from Moddable's `crypt` (scripts/build-moddable.ts): its fake here.
  await worker.evaluate(
    await bundleModdableOnFakes(distPath, "provisio", { crypt: "testkit/moddable/fakes/crypt.ts" }),
  );
});

afterAll(() => worker?.close());

test("inside XS, the build encodes a PUBLISH and decodes a PUBACK as mqtt-packet does", async () => {
  const publish = {
    cmd: "publish",
    topic: "devices/d1/telemetry",
    payload: new Uint8Array([0, 1, 0xfe, 0xff]),
    qos: 1,
    dup: false,
    retain: false,
    messageId: 513,
  } as const;
  const puback = generate({ cmd: "puback", messageId: 513 });

  const { reply } = await worker.evaluate(`(() => {
    const exported = Object.keys(provisio).sort();
    const encoded = provisio.encode({ ...${JSON.stringify({ ...publish, payload: undefined })}, payload: new Uint8Array(${JSON.stringify([...publish.payload])}) });
    const packets = [];
    const error = new provisio.PacketDecoder().push(new Uint8Array(${JSON.stringify([...puback])}), (packet) => packets.push(packet));
    return new TextEncoder().encode(JSON.stringify({ exported, encoded: Array.from(encoded), packets, error: error && error.message })).buffer;
  })()`);
  const result = parseJson<{ exported: string[]; encoded: number[]; packets: unknown[]; error?: string }>(reply);

  expect(result.exported).toEqual(
    expect.arrayContaining([
      "Backoff",
      "DeviceClient",
      "FlashRecordStore",
      "MqttClient",
      "PacketDecoder",
      "encode",
      "ticksAdd",
      "silentLog",
    ]),
  );
  expect(result.encoded).toEqual([...generate({ ...publish, payload: Buffer.from(publish.payload) })]);
  expect(result.error).toBeUndefined();
  expect(result.packets).toEqual([{ cmd: "puback", messageId: 513 }]);
});

test("the device module loads as an ES module, its top-level bindings const (frozen into flash when preloaded)", () => {
  // Node evaluates the module as Moddable's xsl does at build time: a binding read before its
  // const is initialized would throw here. Moddable's `crypt` is a module of its own there, only
  // called later: here a stand-in with its export.
  const dir = mkdtempSync(join(tmpdir(), "provisio-dist-"));
  let exported: string[];
  try {
    const module = join(dir, "provisio-sdk.mjs");
    const crypt = "data:text/javascript,export class Digest {}";
    const code = readFileSync(distPath, "utf8");
    expect(code).toContain('from"crypt"');
    writeFileSync(module, code.replaceAll('from"crypt"', `from${JSON.stringify(crypt)}`));
    const script = `import(${JSON.stringify(`file://${module}`)}).then((m) => console.log(Object.keys(m).sort().join(",")))`;
    exported = execFileSync(process.execPath, ["--input-type=module", "-e", script], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    })
      .trim()
      .split(",");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  expect(exported).toEqual(
    expect.arrayContaining(["DeviceClient", "FlashRecordStore", "MqttClient", "PreferenceRecordStore"]),
  );
  expect(topLevelVariables(readFileSync(distPath, "utf8"))).toEqual([]);
});

const errorClasses = [
  "DeviceClientError",
  "LinkError",
  "MqttClientError",
  "MqttProtocolError",
  "SendError",
  "StorageError",
];

test("each error class of the device build names itself, though minification renamed the classes", async () => {
  const { reply } = await worker.evaluate(`(() => {
    const made = ${JSON.stringify(errorClasses)}.map((name) => {
      const error = new provisio[name]("some-code", "a message");
      return { name: error.name, text: String(error), code: error.code, isError: error instanceof Error };
    });
    const connect = new provisio.MqttConnectError(5);
    made.push({ name: connect.name, text: String(connect), code: connect.code, isError: connect instanceof Error });
    return new TextEncoder().encode(JSON.stringify(made)).buffer;
  })()`);
  const made = parseJson<{ name: string; text: string; code: string; isError: boolean }[]>(reply);
  expect(made).toEqual([
    ...errorClasses.map((name) => ({ name, text: `${name}: a message`, code: "some-code", isError: true })),
    {
      name: "MqttConnectError",
      text: "MqttConnectError: broker refused the connection: not-authorized (return code 5)",
      code: "not-authorized",
      isError: true,
    },
  ]);
});

/**
 * The device build (dist/moddable/provisio-sdk.js, minified: its classes renamed) inside XS: every
 * error class it exports says its own name, as `name` and in its string, and its code; with the
 * built-ins frozen as Moddable's xsl leaves them, where an assigned `name` would be refused.
 */
import { distPath, repoRoot } from "../../scripts/build";
import { bundleModdableOnFakes } from "../../scripts/build-moddable";
import { execFileSync } from "node:child_process";
import { XsWorker, parseJson } from "../../simulator/xs-engine/worker";

const errorClasses = [
  "DeviceClientError",
  "LinkError",
  "MqttClientError",
  "MqttProtocolError",
  "SendError",
  "StorageError",
];

let worker: XsWorker;

beforeAll(async () => {
  execFileSync("npm", ["run", "--silent", "build"], { cwd: repoRoot, stdio: "pipe" });
  worker = new XsWorker({ name: "error-names" });
  worker.start();
  await worker.evaluate(await bundleModdableOnFakes("testkit/moddable/fakes/preloaded-builtins.ts", "frozen", {}));
  await worker.evaluate(
    await bundleModdableOnFakes(distPath, "provisio", { crypt: "testkit/moddable/fakes/crypt.ts" }),
  );
});

afterAll(() => worker?.close());

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

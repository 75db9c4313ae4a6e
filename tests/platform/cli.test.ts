/** The real CLI (node bin/provisio.js) against a running platform. */
import { execFile, spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { eventually } from "../../testkit/node/eventually";
import { startTestPlatform, type TestPlatform } from "../../testkit/node/platform";
import { ProvisioningDevice, RegisteredDevice, closedByBroker, provision } from "../../testkit/platform/mqtt-device";

let platform: TestPlatform;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function provisio(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const bin = join(__dirname, "../../bin/provisio.js");
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { env: { ...process.env, PROVISIO_ADMIN_KEY: "", ...env } },
      (error, stdout, stderr) => {
        resolve({ code: error ? (error.code as number) : 0, stdout, stderr });
      },
    );
  });
}

const api = () => ["--platform", platform.apiUrl, "--data", platform.dataDir];

beforeAll(async () => {
  platform = await startTestPlatform();
});
afterAll(async () => {
  await platform.stop();
});

test("tokens create prints only the token, which a device can use; list shows it", async () => {
  const created = await provisio([
    "tokens",
    "create",
    "--name",
    "line-3",
    "--max-uses",
    "5",
    "--lifetime",
    "7d",
    ...api(),
  ]);
  expect(created).toMatchObject({ code: 0, stderr: "" });
  const token = created.stdout.trim();
  expect(token).toMatch(/^pt_[A-Za-z0-9_-]{32}$/);
  const device = await ProvisioningDevice.connect(platform.mqttUrl, token);
  await device.end();

  const listed = await provisio(["tokens", "list", "--json", ...api()]);
  expect(JSON.parse(listed.stdout)).toEqual([
    expect.objectContaining({ name: "line-3", maxUses: 5, registrationLifetime: 7 * 86400, state: "active" }),
  ]);
  const table = await provisio(["tokens", "list", ...api()]);
  expect(table.stdout).toMatch(/line-3 .* 0\/5 +active/);
  expect(table.stdout).not.toContain(token);
});

test("ops list shows the verification code; ops approve by code; devices list shows the device", async () => {
  const token = (await provisio(["tokens", "create", ...api()])).stdout.trim();
  const device = await ProvisioningDevice.connect(platform.mqttUrl, token);
  const init = await device.init({ deviceId: "cli-device-1" });
  const { verificationCode } = await device.complete(init.operationId);

  const list = await provisio(["ops", "list", "--pending", ...api()]);
  expect(list.code).toBe(0);
  expect(list.stdout).toContain(init.operationId);
  expect(list.stdout).toContain(verificationCode);

  const approved = await provisio(["ops", "approve", verificationCode, "--device-id", "cli-device-2", ...api()]);
  expect(approved).toMatchObject({ code: 0, stdout: `approved ${init.operationId} as cli-device-2\n` });
  expect(await device.pushed(init.operationId)).toMatchObject({ status: 200, deviceId: "cli-device-2" });
  await device.end();

  // The admin key from the environment this time, instead of --data.
  const env = { PROVISIO_ADMIN_KEY: platform.adminKey };
  const devices = await provisio(["devices", "list", "--json", "--platform", platform.apiUrl], env);
  expect(devices.code).toBe(0);
  expect(JSON.parse(devices.stdout)).toEqual([expect.objectContaining({ deviceId: "cli-device-2", attributes: {} })]);
  expect((await provisio(["devices", "list", "--platform", platform.apiUrl], env)).stdout).toMatch(
    /ws_default +cli-device-2/,
  );
  const ops = await provisio(["ops", "list", "--json", "--platform", platform.apiUrl], env);
  expect(JSON.parse(ops.stdout)).toEqual([expect.objectContaining({ id: init.operationId, state: "approved" })]);
  const messages = await provisio(["messages", "list", "--device", "cli-device-2", "--json", ...api()]);
  expect(JSON.parse(messages.stdout)).toEqual([]);
});

test("devices revoke closes the device's session; devices delete removes it", async () => {
  const token = (await provisio(["tokens", "create", ...api()])).stdout.trim();
  const { token: registration } = await provision(platform, token, "cli-revoke-1");
  const session = await RegisteredDevice.connect(platform.mqttUrl, "ws_default", "cli-revoke-1", registration);
  const closed = closedByBroker(session.client);
  expect(await provisio(["devices", "revoke", "cli-revoke-1", ...api()])).toMatchObject({
    code: 0,
    stdout: "revoked cli-revoke-1\n",
  });
  expect(await closed).toBe(true);
  await session.end();
  expect((await provisio(["devices", "list", ...api()])).stdout).toMatch(/cli-revoke-1 .* \d{4}-\d\d-\d\dT/);
  expect(await provisio(["devices", "delete", "cli-revoke-1", "--workspace", "ws_default", ...api()])).toMatchObject({
    code: 0,
    stdout: "deleted cli-revoke-1\n",
  });
  const devices = JSON.parse((await provisio(["devices", "list", "--json", ...api()])).stdout);
  expect(devices.map((d: any) => d.deviceId)).not.toContain("cli-revoke-1");
  const again = await provisio(["devices", "delete", "cli-revoke-1", ...api()]);
  expect([again.code !== 0, again.stderr]).toEqual([true, expect.stringMatching(/^provisio: unknown-device: /)]);
});

test("errors are one line on stderr with a non-zero exit", async () => {
  const cases: [string[], RegExp][] = [
    [["ops", "approve", "op_missing", ...api()], /^provisio: op_missing: unknown-operation: .+\n$/],
    [["tokens", "create", "--max-uses", "zero", ...api()], /^provisio: --max-uses must be .+\n$/],
    [["tokens", "frobnicate", ...api()], /^provisio: usage: .+\n$/],
    [["tokens", "list", "--bogus", ...api()], /^provisio: unknown option --bogus .+\n$/],
    [["nope"], /^provisio: unknown command "nope".+\n$/],
    [["tokens", "list", "--data", "/nonexistent-dir"], /^provisio: no admin key: .+\n$/],
    [
      ["tokens", "list", "--platform", "http://127.0.0.1:1", ...api().slice(2)],
      /^provisio: cannot reach the platform .+\n$/,
    ],
  ];
  for (const [args, stderr] of cases) {
    const run = await provisio(args);
    expect([args.join(" "), run.code !== 0, run.stderr]).toEqual([args.join(" "), true, expect.stringMatching(stderr)]);
    expect(run.stdout).toBe("");
  }
  const wrongKey = await provisio(["tokens", "list", "--platform", platform.apiUrl], { PROVISIO_ADMIN_KEY: "wrong" });
  expect(wrongKey.code).not.toBe(0);
  expect(wrongKey.stderr).toMatch(/^provisio: unauthorized: /);
});

test("exit codes tell a script what went wrong; --help lists them", async () => {
  const cases: [string[], number][] = [
    [["ops", "approve", "op_missing", ...api()], 3],
    [["tokens", "create", "--device-id", "no", ...api()], 4],
    [["tokens", "list", "--bogus", ...api()], 2],
    [["tokens", "list", "--platform", "http://127.0.0.1:1", ...api().slice(2)], 6],
  ];
  for (const [args, code] of cases)
    expect([args.join(" "), (await provisio(args)).code]).toEqual([args.join(" "), code]);
  expect(
    (await provisio(["tokens", "list", "--platform", platform.apiUrl], { PROVISIO_ADMIN_KEY: "wrong" })).code,
  ).toBe(5);
  const token = (await provisio(["tokens", "create", ...api()])).stdout.trim();
  const device = await ProvisioningDevice.connect(platform.mqttUrl, token);
  const init = await device.init({ deviceId: "cli-exit-0001" });
  const { verificationCode } = await device.complete(init.operationId);
  expect((await provisio(["ops", "approve", verificationCode, ...api()])).code).toBe(0);
  const again = await provisio(["ops", "approve", verificationCode, ...api()]);
  expect([again.code, again.stderr]).toEqual([3, expect.stringMatching(/unknown-operation/)]);
  const byId = await provisio(["ops", "approve", init.operationId, ...api()]);
  expect([byId.code, byId.stderr]).toEqual([4, expect.stringMatching(/operation-not-pending/)]);
  await device.end();
  const help = await provisio(["--help"]);
  expect(help.stdout).toMatch(/Exit codes:[\s\S]*3 +not found[\s\S]*6 +platform unreachable/);
});

test("ops approve takes several codes: each is approved or fails on its own", async () => {
  const codes: string[] = [];
  const devices: ProvisioningDevice[] = [];
  for (const n of [1, 2]) {
    const token = (await provisio(["tokens", "create", ...api()])).stdout.trim();
    const device = await ProvisioningDevice.connect(platform.mqttUrl, token);
    const init = await device.init({ deviceId: `cli-batch-000${n}` });
    codes.push((await device.complete(init.operationId)).verificationCode);
    devices.push(device);
  }
  const run = await provisio(["ops", "approve", codes[0], "ZZZZ-ZZZZ", codes[1], ...api()]);
  expect(run.code).toBe(3);
  expect(run.stdout).toMatch(/^approved op_\S+ as cli-batch-0001\napproved op_\S+ as cli-batch-0002\n$/);
  expect(run.stderr).toMatch(/^provisio: ZZZZ-ZZZZ: unknown-operation: /);
  const both = await provisio(["ops", "approve", codes[0], codes[1], "--device-id", "x-0001", ...api()]);
  expect([both.code, both.stderr]).toEqual([2, "provisio: --device-id goes with one code only\n"]);
  for (const device of devices) await device.end();
});

test("ops watch prints each operation once its device shows a code, and what becomes of it", async () => {
  const watcher = spawn(
    process.execPath,
    [join(__dirname, "../../bin/provisio.js"), "ops", "watch", "--json", ...api()],
    {
      env: { ...process.env, PROVISIO_ADMIN_KEY: "" },
    },
  );
  let out = "";
  watcher.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
  const exited = new Promise<number | null>((resolve) => watcher.on("exit", (code) => resolve(code)));
  const lines = () =>
    out
      .split("\n")
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { type: string; operation: any });
  try {
    const token = (await provisio(["tokens", "create", ...api()])).stdout.trim();
    const device = await ProvisioningDevice.connect(platform.mqttUrl, token);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const init = await device.init({ deviceId: "cli-watch-0001", attributes: { model: "pump" } });
    const { verificationCode } = await device.complete(init.operationId);
    await eventually(() => lines().length >= 1, "the revealed operation");
    expect(lines()[0]).toMatchObject({
      type: "operation-revealed",
      operation: { id: init.operationId, verificationCode, requestedDeviceId: "cli-watch-0001" },
    });
    await provisio(["ops", "approve", verificationCode, ...api()]);
    await eventually(() => lines().length >= 2, "the approval");
    expect(lines()[1]).toMatchObject({
      type: "operation-approved",
      operation: { id: init.operationId, state: "approved" },
    });
    await device.end();
  } finally {
    watcher.kill("SIGINT");
  }
  expect(await exited).toBe(0);
});

test("--help and -h on every command, --version, usage alone, and did-you-mean for typos", async () => {
  const commands = [[], ["platform"], ["tokens"], ["ops"], ["devices"], ["messages"], ["device"], ["demo"], ["certs"]];
  for (const command of commands)
    for (const flag of ["--help", "-h"]) {
      const run = await provisio([...command, flag]);
      expect([command.join(" "), flag, run.code, run.stdout]).toEqual([
        command.join(" "),
        flag,
        0,
        expect.stringMatching(/Usage:\s+provisio/),
      ]);
    }
  const version = JSON.parse(readFileSync(join(__dirname, "../../package.json"), "utf8")).version;
  expect(await provisio(["--version"])).toMatchObject({ code: 0, stdout: `${version}\n` });
  expect(await provisio([])).toMatchObject({ code: 2, stdout: expect.stringMatching(/^Usage: provisio COMMAND/) });
  expect(await provisio(["tokns", "list"])).toMatchObject({
    code: 2,
    stderr: expect.stringMatching(/unknown command "tokns" \(did you mean tokens\?\)/),
  });
  expect(await provisio(["tokens", "list", "--limt", "3", ...api()])).toMatchObject({
    code: 2,
    stderr: expect.stringMatching(/unknown option --limt \(did you mean --limit\?\)/),
  });
});

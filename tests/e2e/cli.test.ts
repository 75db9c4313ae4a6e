/** `provisio device` and `provisio demo` run as users run them: the real CLI in a child process. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTestPlatform, type TestPlatform } from "../../testkit/node/platform";
import { provisio, shownCode, whileRunning, type CliRun } from "../../testkit/e2e/cli-process";
import { approveCode } from "../../testkit/e2e/technician";

jest.setTimeout(90000);

/** Like whileRunning, but the run ending first fails the test. */
async function until<T>(what: string, value: () => T | undefined, run: CliRun): Promise<T> {
  const found = await whileRunning(what, value, run);
  if (found === undefined) throw new Error(`no ${what}: the run ended; output:\n${run.output()}`);
  return found;
}

describe("provisio device", () => {
  let platform: TestPlatform;
  let stateDir: string;
  beforeEach(async () => {
    platform = await startTestPlatform();
    stateDir = mkdtempSync(join(tmpdir(), "provisio-e2e-cli-"));
  });
  afterEach(async () => {
    await platform.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  test.each(["xs", "node"])(
    "--engine %s --send 3 provisions with the code it prints, sends 3 messages and exits 0",
    async (engine) => {
      const { body } = await platform.api("POST", "/api/tokens", {});
      const args = [
        "device",
        "--broker",
        platform.mqttUrl,
        "--token",
        body.token,
        "--device-id",
        `cli-${engine}-01`,
        "--state",
        stateDir,
        "--engine",
        engine,
        "--send",
        "3",
      ];
      const run = provisio(args);
      const code = await until("verification code", () => shownCode(run), run);
      await until("awaiting-approval", () => (run.output().includes("awaiting-approval") ? true : undefined), run);
      await approveCode(platform, code);
      expect(await run.exited).toBe(0);
      expect(run.output()).toContain("message 3/3 acknowledged");
      expect(run.output()).not.toContain(body.token);
      const { body: stored } = await platform.api("GET", `/api/messages?device=cli-${engine}-01`);
      expect(
        stored.messages
          .map((m: { payloadBase64: string }) => JSON.parse(Buffer.from(m.payloadBase64, "base64").toString()).n)
          .sort(),
      ).toEqual([1, 2, 3]);

      // Run again on the same state: registered already, no code, straight to sending.
      const again = provisio(args);
      expect(await again.exited).toBe(0);
      expect(again.output()).not.toContain("Verification code");
      expect((await platform.api("GET", `/api/messages?device=cli-${engine}-01`)).body.messages).toHaveLength(6);
    },
  );

  test("a refused provisioning token ends with an error instead of retrying", async () => {
    const run = provisio([
      "device",
      "--broker",
      platform.mqttUrl,
      "--token",
      "pt_unknown",
      "--state",
      stateDir,
      "--send",
      "1",
    ]);
    expect(await run.exited).toBe(1);
    expect(run.output()).toContain("failed (provisioning-token-refused)");
  });
});

test("provisio demo --yes --messages 2 provisions a device and shows its messages", async () => {
  const run = provisio(["demo", "--yes", "--messages", "2"]);
  expect(await run.exited).toBe(0);
  const out = run.output();
  const deviceCode = /Verification code:\s+(\S+)/.exec(out)?.[1];
  expect(deviceCode).toMatch(/^[0-9A-Z]{4}-[0-9A-Z]{4}$/);
  expect(out).toContain(`shows the code ${deviceCode}`);
  expect(out).toContain("operation approved");
  // The technician's side goes over HTTPS too, trusting the run's development CA.
  expect(out).toMatch(/technician API on https:\/\/127\.0\.0\.1:\d+\n/);
  expect(out).toMatch(/or the console: https:\/\/127\.0\.0\.1:\d+\/ \(trust .+ca\.pem; admin key in .+admin\.key\)\n/);
  expect(out).toMatch(
    /try: npx provisio ops list --platform https:\/\/127\.0\.0\.1:\d+ --ca \S+\/ca\.pem --data \S+\n/,
  );
  expect(out.match(/\[platform\] message from demo-device-01/g)).toHaveLength(2);
});

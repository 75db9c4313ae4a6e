/**
 * Reboot at every step of provisioning (issue 4): the real CLI device on its flash image, its
 * power cut during each flash write it makes (--power-cut-after-writes N) or its process killed,
 * then started again on the same --state. Every run must end registered, and the technician must
 * have approved exactly one operation.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { powerCutExitCode } from "../../simulator/cli/device";
import { startTestPlatform, type TestPlatform } from "../../testkit/node/platform";
import { provisio, shownCode, whileRunning, type CliRun } from "../../testkit/e2e/cli-process";
import { approveCode, createToken } from "../../testkit/e2e/technician";

jest.setTimeout(300000);

let platform: TestPlatform;
const stateDirs: string[] = [];
beforeAll(async () => {
  platform = await startTestPlatform();
});
afterAll(async () => {
  await platform.stop();
  for (const dir of stateDirs) rmSync(dir, { recursive: true, force: true });
});

/** One simulated device across its reboots: the same token, Device ID and flash image. */
class RebootedDevice {
  readonly stateDir = mkdtempSync(join(tmpdir(), "provisio-reboot-"));
  /** The codes the technician approved, over every run. */
  readonly approved: string[] = [];

  constructor(
    readonly token: string,
    readonly deviceId: string,
    readonly engine: "node" | "xs",
  ) {
    stateDirs.push(this.stateDir);
  }

  start(extra: string[] = []): CliRun {
    const args = ["device", "--broker", platform.mqttUrl, "--token", this.token, "--device-id", this.deviceId];
    return provisio([...args, "--state", this.stateDir, "--engine", this.engine, ...extra]);
  }

  /**
   * Plays the technician until the run exits: approves the code once the device awaits approval.
   * A second, different code means a reboot cost a second approval: the test fails at once.
   */
  async technician(run: CliRun): Promise<number | null> {
    for (;;) {
      const code = await whileRunning(
        "exit",
        () => {
          const shown = shownCode(run);
          return shown && run.output().includes("awaiting-approval") && !this.approved.includes(shown)
            ? shown
            : undefined;
        },
        run,
        120000,
      );
      if (code === undefined) return run.exited;
      if (this.approved.length > 0)
        throw new Error(`a second approval was asked for (${code} after ${this.approved[0]}):\n${run.output()}`);
      await approveCode(platform, code);
      this.approved.push(code);
    }
  }

  /** Registered and sending, with exactly one operation approved for it on the platform. */
  async expectRegisteredOnce(): Promise<void> {
    expect(this.approved).toHaveLength(1);
    const { body } = await platform.api("GET", "/api/operations");
    const decided = body.operations.filter(
      (op: { requestedDeviceId: string; state: string }) =>
        op.requestedDeviceId === this.deviceId && (op.state === "approved" || op.state === "consumed"),
    );
    expect(decided).toHaveLength(1);
    const { body: devices } = await platform.api("GET", "/api/devices");
    expect(devices.devices.map((d: { deviceId: string }) => d.deviceId)).toContain(this.deviceId);
    const { body: stored } = await platform.api("GET", `/api/messages?device=${this.deviceId}`);
    expect(stored.messages.length).toBeGreaterThanOrEqual(1);
  }
}

const newToken = () => createToken(platform);

/**
 * Cuts the power during the device's (N+1)th flash write, reboots it without a cut, and checks
 * the outcome. Returns false when the device made at most N writes: no cut happened.
 */
async function cutAndReboot(engine: "node" | "xs", writes: number): Promise<boolean> {
  const device = new RebootedDevice(await newToken(), `reboot-${engine}-${writes}`, engine);
  const cut = device.start(["--power-cut-after-writes", String(writes), "--send", "1"]);
  const first = await device.technician(cut);
  if (first === 0) {
    expect(cut.output()).not.toContain("power cut");
    await device.expectRegisteredOnce();
    return false;
  }
  expect({ exit: first, output: cut.output() }).toMatchObject({ exit: powerCutExitCode });
  expect(cut.output()).toContain("device: power cut (simulated)");
  const rebooted = device.start(["--send", "1"]);
  expect({ exit: await device.technician(rebooted), output: rebooted.output() }).toMatchObject({ exit: 0 });
  await device.expectRegisteredOnce();
  return true;
}

test("node engine: a power cut during every flash write of provisioning, then a reboot, costs no second approval", async () => {
  let cutPoints = 0;
  while (await cutAndReboot("node", cutPoints)) cutPoints++;
  // At least: the key pair, the nonce (before init), the operation ID (after init), the registration (after approval).
  expect(cutPoints).toBeGreaterThanOrEqual(4);
});

test.each([1, 3])(
  "xs engine: a power cut after %i flash writes, then a reboot, costs no second approval",
  async (writes) => {
    expect(await cutAndReboot("xs", writes)).toBe(true);
  },
);

describe("killed process (node engine)", () => {
  test("killed while awaiting approval: the reboot resumes the same operation", async () => {
    const device = new RebootedDevice(await newToken(), "reboot-kill-pending", "node");
    const waiting = device.start();
    const code = await whileRunning(
      "code",
      () => (waiting.output().includes("awaiting-approval") ? shownCode(waiting) : undefined),
      waiting,
    );
    expect(code).toBeDefined();
    waiting.child.kill("SIGKILL");
    await waiting.exited;
    const rebooted = device.start(["--send", "1"]);
    expect({ exit: await device.technician(rebooted), output: rebooted.output() }).toMatchObject({ exit: 0 });
    expect(device.approved).toEqual([code]);
    await device.expectRegisteredOnce();
  });

  test("killed once connected: the reboot reuses the stored registration", async () => {
    const device = new RebootedDevice(await newToken(), "reboot-kill-connected", "node");
    const connecting = device.start();
    const run = async () => {
      const connected = whileRunning(
        "connected",
        () => (connecting.output().includes("device: connected") ? true : undefined),
        connecting,
        120000,
      );
      await Promise.race([device.technician(connecting), connected]);
      return connected;
    };
    expect(await run()).toBe(true);
    connecting.child.kill("SIGKILL");
    await connecting.exited;
    const rebooted = device.start(["--send", "1"]);
    expect({ exit: await rebooted.exited, output: rebooted.output() }).toMatchObject({ exit: 0 });
    expect(rebooted.output()).not.toContain("Verification code");
    await device.expectRegisteredOnce();
  });
});

/**
 * Messages survive the platform being down and the device losing power (issue 16): the real CLI
 * device, registered, queues N messages while the platform is down, loses its power (SIGKILL: the
 * flash images keep what was written), and is started again once the platform is back on the
 * same data and port. All N are stored once, in order, in both engines. And messages the platform
 * stored but whose PUBACKs were lost before a power cut are resent (DUP) and stored once.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { eventually } from "../../testkit/node/eventually";
import { startTestPlatform, type TestPlatform } from "../../testkit/node/platform";
import { TcpProxy } from "../../testkit/node/tcp-proxy";
import { provisio, shownCode, whileRunning } from "../../testkit/e2e/cli-process";
import { approveCode, createToken } from "../../testkit/e2e/technician";

jest.setTimeout(120000);

const cleanup: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const step of cleanup.splice(0).reverse()) await step();
});

const count = 12;

test.each(["node", "xs"] as const)(
  `%s engine: ${count} messages queued while the platform is down survive a power cut and are stored once, in order`,
  async (engine) => {
    let platform: TestPlatform = await startTestPlatform();
    const dataDir = platform.dataDir;
    const stateDir = mkdtempSync(join(tmpdir(), "provisio-offline-"));
    cleanup.push(() => rmSync(stateDir, { recursive: true, force: true }));
    cleanup.push(() => platform.stop());
    const deviceId = `offline-${engine}`;
    const device = (send: number) =>
      provisio([
        "device",
        ...["--broker", platform.mqttUrl, "--token", token, "--device-id", deviceId],
        ...["--state", stateDir, "--engine", engine, "--send", String(send), "--stream", "queued"],
      ]);
    const token = await createToken(platform);

    // Registered (and its one message stored) while the platform is up.
    const first = device(0);
    const code = await whileRunning("a code", () => shownCode(first), first);
    await approveCode(platform, code!);
    expect({ exit: await first.exited, output: first.output() }).toMatchObject({ exit: 0 });

    // The platform goes down; the device queues its messages, then loses power.
    const mqttPort = platform.mqttPort;
    await platform.stop({ keepData: true });
    const offline = device(count);
    await whileRunning(
      "the messages queued",
      () => offline.output().includes(`${count} messages queued`) || undefined,
      offline,
    );
    await whileRunning(
      "a failed connect",
      () => /connecting \((refused|closed|failed)/.test(offline.output()) || undefined,
      offline,
    );
    offline.child.kill("SIGKILL");
    await offline.exited;
    expect(offline.output()).not.toContain("acknowledged");

    // The platform is back; the device boots, finds its queue and delivers it.
    platform = await startTestPlatform({ dataDir, mqttPort, clockOffsetMs: platform.clockOffsetMs });
    const rebooted = device(0);
    expect({ exit: await rebooted.exited, output: rebooted.output() }).toMatchObject({ exit: 0 });
    expect(rebooted.output()).toContain(`${count} messages waiting from before`);

    expect(await storedMessages(platform, deviceId)).toEqual(
      Array.from({ length: count }, (_, i) => ({ n: i + 1, of: count })),
    );
  },
);

/** The messages of `deviceId` on stream "queued", oldest first, as the device wrote them. */
async function storedMessages(platform: TestPlatform, deviceId: string): Promise<{ n: number; of: number }[]> {
  const { body } = await platform.api("GET", `/api/messages?device=${deviceId}&stream=queued&limit=100`);
  return (body.messages as { payloadBase64: string }[])
    .map((m) => JSON.parse(Buffer.from(m.payloadBase64, "base64").toString()) as { n: number; of: number })
    .reverse();
}

test("node engine: messages stored whose PUBACKs were lost before a power cut are resent and stored once", async () => {
  const platform = await startTestPlatform();
  cleanup.push(() => platform.stop());
  const proxy = await TcpProxy.start(platform.mqttPort);
  cleanup.push(() => proxy.close());
  const stateDir = mkdtempSync(join(tmpdir(), "provisio-lost-pubacks-"));
  cleanup.push(() => rmSync(stateDir, { recursive: true, force: true }));
  const token = await createToken(platform);
  const deviceId = "lost-pubacks";
  const device = (send: number) =>
    provisio([
      "device",
      ...["--broker", `mqtt://127.0.0.1:${proxy.port}`, "--token", token, "--device-id", deviceId],
      ...["--state", stateDir, "--engine", "node", "--send", String(send), "--stream", "queued"],
    ]);
  const first = device(0);
  await approveCode(platform, (await whileRunning("a code", () => shownCode(first), first))!);
  expect({ exit: await first.exited, output: first.output() }).toMatchObject({ exit: 0 });

  const puback = 4;
  proxy.rewrite = (packet) => (packet[0] >> 4 === puback ? Buffer.alloc(0) : packet);
  const unacknowledged = device(6);
  await eventually(async () => (await storedMessages(platform, deviceId)).length === 6, "six messages stored");
  unacknowledged.child.kill("SIGKILL");
  await unacknowledged.exited;
  expect(unacknowledged.output()).not.toContain("acknowledged");

  proxy.rewrite = undefined;
  const rebooted = device(0);
  expect({ exit: await rebooted.exited, output: rebooted.output() }).toMatchObject({ exit: 0 });
  expect(rebooted.output()).toContain("6 messages waiting from before");
  expect(await storedMessages(platform, deviceId)).toEqual(Array.from({ length: 6 }, (_, i) => ({ n: i + 1, of: 6 })));
});

/**
 * The example app, the Moddable adapters and the bundled core run inside the real XS engine on
 * the fakes of tests/support-moddable, the fake socket bridged to a real platform (aedes, SQLite,
 * HTTP API): a whole provisioning approved through the technician API, then readings sent.
 */
import { createServer, type Server } from "node:net";
import { startTestPlatform, type TestPlatform } from "../support-node/platform";
import { approveAndCollectReadings } from "./app-flow";
import { startModdableRig } from "./moddable-host";

jest.setTimeout(90_000);

describe("the Moddable app inside XS on fake Moddable modules", () => {
  let platform: TestPlatform;
  beforeAll(async () => {
    platform = await startTestPlatform();
  });
  afterAll(() => platform.stop());

  for (const store of ["preference", "flash"] as const)
    test(`provisions through the platform and sends readings (${store} store)`, async () => {
      const { body } = await platform.api("POST", "/api/tokens", {});
      const deviceId = `esp32-${store}`;
      const rig = await startModdableRig({ speed: 5 });
      try {
        const settings = {
          brokerHost: "127.0.0.1",
          brokerPort: platform.mqttPort,
          provisioningToken: body.token,
          deviceId,
          sendIntervalMs: 4000,
          ...(store === "flash" ? { storePartition: "provisio" } : {}),
        };
        await rig.evaluate(`moddableApp.start(${JSON.stringify(settings)}, ${4 * 4096})`);
        expect(await approveAndCollectReadings(rig, platform, deviceId)).toEqual(expect.arrayContaining([1, 2]));
        expect(rig.lines.join("\n")).not.toContain(body.token);

        const status = JSON.parse(Buffer.from((await rig.evaluate("moddableApp.status()")).reply).toString("utf8"));
        // The provisioning socket was closed: only the registered session's remains.
        expect(status.sockets).toBe(1);
        // The fake's ticks start 3 s before 2^31: the whole run crossed the wrap.
        expect(status.ticks).toBeLessThan(0);
      } finally {
        await rig.stop();
      }
    });
});

describe("ModdableTransport on the fake socket", () => {
  let echo: Server;
  let port: number;
  beforeAll(async () => {
    echo = createServer((socket) => socket.pipe(socket));
    await new Promise<void>((resolve) => echo.listen(0, "127.0.0.1", resolve));
    port = (echo.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((resolve) => echo.close(() => resolve())));

  test("writes more than the 8 KB send buffer in pieces as sent events come, in order", async () => {
    const rig = await startModdableRig();
    try {
      await rig.evaluate(`moddableApp.echo(${port}, [6000, 9000, 1000])`);
      await rig.waitForLine(/^echo received 16000 mismatch -1$/);
      expect(rig.lines).toContain("echo open");
    } finally {
      await rig.stop();
    }
  });

  test("closes the connection when the core queues more than the bound", async () => {
    const rig = await startModdableRig();
    try {
      await rig.evaluate(`moddableApp.echo(${port}, [3000, 3000], 4096)`);
      await rig.waitForLine(/^echo closed send queue full$/);
      expect(rig.lines).not.toContain("echo open");
    } finally {
      await rig.stop();
    }
  });
});

/**
 * The example app, the Moddable adapters and the bundled core run inside the real XS engine, with
 * the stack manifest.json gives the device, on the fakes of testkit/moddable/fakes (built for the
 * ESP32 or for Moddable's Linux simulator), the fake socket bridged to a real platform (aedes,
 * SQLite, HTTP API): a whole provisioning approved through the technician API, then readings sent.
 * What the real toolchain showed (Moddable 8.2.3) is here as tests: no `flash` on the simulator,
 * its epoch-millisecond ticks and unseeded Math.random (the key comes from the host's source, and
 * a device whose source fails makes none and queues nothing), its socket's life, the stack.
 */
import { createServer, type Server } from "node:net";
import { decodeIdentity } from "../../sdk/identity";
import { PreferenceRecordStore, type PreferenceValue } from "../../sdk/storage/preference-record-store";
import { base64urlDecode } from "../../sdk/crypto/base64url";
import { eventually } from "../../testkit/node/eventually";
import { startTestPlatform, type TestPlatform } from "../../testkit/node/platform";
import { appStatus, approveAndCollectReadings } from "../../testkit/moddable/app-flow";
import { manifest } from "../../testkit/moddable/manifest";
import { startModdableRig, type ModdableRigOptions, type Preferences } from "../../testkit/moddable/moddable-host";

/** The public key of the identity the app stored in `preferences`, hex; undefined before it stored one. */
function storedPublicKey(preferences: Preferences): string | undefined {
  const preference = {
    get(domain: string, key: string): PreferenceValue | undefined {
      const stored = preferences.get(domain)?.get(key);
      if (!stored) return undefined;
      return "buffer" in stored ? base64urlDecode(stored.buffer)!.slice().buffer : stored.value;
    },
    set: () => undefined,
    delete: () => undefined,
  };
  const record = new PreferenceRecordStore({ preference, domain: "provisio", key: "record" }).read();
  const identity = record && decodeIdentity(record);
  return identity ? Buffer.from(identity.keyPair.publicKey).toString("hex") : undefined;
}

async function operationsOfToken(platform: TestPlatform, tokenId: string): Promise<number> {
  const { body } = await platform.api("GET", "/api/operations");
  return body.operations.filter((o: { provisioningTokenId: string }) => o.provisioningTokenId === tokenId).length;
}

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

        const status = await appStatus(rig);
        // The provisioning socket was closed: only the registered session's remains.
        expect(status.sockets).toBe(1);
        // The fake's ticks start 3 s before 2^31: the whole run crossed the wrap.
        expect(status.ticks).toBeLessThan(0);
      } finally {
        await rig.stop();
      }
    });
});

describe("the app on Moddable's Linux simulator (lin)", () => {
  let platform: TestPlatform;
  beforeAll(async () => {
    platform = await startTestPlatform();
  });
  afterAll(() => platform.stop());

  async function run(preferences: Preferences, settings: Record<string, unknown>, options: ModdableRigOptions = {}) {
    const rig = await startModdableRig({ speed: 5, platform: "lin", preferences, ...options });
    await rig.evaluate(
      `moddableApp.start(${JSON.stringify({ brokerHost: "127.0.0.1", brokerPort: platform.mqttPort, sendIntervalMs: 4000, ...settings })})`,
    );
    return rig;
  }

  test("builds without flash, provisions and sends; restarted, it sends again with no new operation; another device has another key", async () => {
    const { body: token } = await platform.api("POST", "/api/tokens", {});
    const device: Preferences = new Map();
    const first = await run(device, { provisioningToken: token.token, deviceId: "sim-0001" });
    try {
      expect(await approveAndCollectReadings(first, platform, "sim-0001")).toEqual(expect.arrayContaining([1, 2]));
    } finally {
      await first.stop();
    }
    const key = storedPublicKey(device);
    expect(key).toMatch(/^[0-9a-f]{64}$/);

    const restarted = await run(device, { provisioningToken: token.token, deviceId: "sim-0001" });
    try {
      await restarted.waitForLine(/registered as \S+:sim-0001/);
      await restarted.waitForLine(/sent reading 1$/);
      expect(restarted.lines.some((line) => /verification code/.test(line))).toBe(false);
    } finally {
      await restarted.stop();
    }
    expect(await operationsOfToken(platform, token.id)).toBe(1);
    expect(storedPublicKey(device)).toBe(key);

    const other: Preferences = new Map();
    const second = await run(other, { provisioningToken: token.token, deviceId: "sim-0002" });
    try {
      await second.waitForLine(/verification code/);
    } finally {
      await second.stop();
    }
    expect(storedPublicKey(other)).toMatch(/^[0-9a-f]{64}$/);
    expect(storedPublicKey(other)).not.toBe(key);
  });

  test("when the host's random source fails it makes no key, says so once, takes no readings and connects nowhere", async () => {
    const { body: token } = await platform.api("POST", "/api/tokens", {});
    const device: Preferences = new Map();
    // A reading a second: the RAM queue (16) would be full after 16 s, and drop one each second after.
    const rig = await run(device, { provisioningToken: token.token, sendIntervalMs: 1000 }, { entropy: false });
    try {
      await rig.waitForLine(/no random source: getrandom failed, so no key is made/);
      const started = (await appStatus(rig)).ticks;
      await eventually(async () => (await appStatus(rig)).ticks - started > 30_000, "30 s of device time", {
        timeoutMs: 30_000,
      });
      expect(rig.lines.filter((line) => /device-failed detail=random-failed/.test(line))).toHaveLength(1);
      expect(rig.lines.filter((line) => /not sent|message-dropped|callback-threw/.test(line))).toEqual([]);
      expect((await appStatus(rig)).sockets).toBe(0);
    } finally {
      await rig.stop();
    }
    expect(storedPublicKey(device)).toBeUndefined();
    expect(await operationsOfToken(platform, token.id)).toBe(0);
  });

  test("with the token and Device ID written to its preferences at the factory, it provisions with none in mc/config", async () => {
    const { body: token } = await platform.api("POST", "/api/tokens", {});
    const device: Preferences = new Map([
      [
        "provisio",
        new Map([
          ["token", { value: token.token }],
          ["deviceId", { value: "factory-0001" }],
        ]),
      ],
    ]);
    const rig = await run(device, { provisioningToken: "", deviceId: "" });
    try {
      expect(await approveAndCollectReadings(rig, platform, "factory-0001")).toEqual(expect.arrayContaining([1, 2]));
    } finally {
      await rig.stop();
    }
    expect(await operationsOfToken(platform, token.id)).toBe(1);
  });

  test("without a token anywhere it says where it looked, and connects nowhere", async () => {
    const rig = await run(new Map(), { provisioningToken: "" });
    try {
      await rig.waitForLine(/no provisioning token: neither in preferences \(provisio\/token\) nor in mc\/config/);
      const status = await appStatus(rig);
      expect(status.sockets).toBe(0);
    } finally {
      await rig.stop();
    }
  });

  test("a broker that cannot be reached: each failed connect is traced with the next try, readings wait", async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as { port: number }).port;
    await new Promise((resolve) => closed.close(resolve));
    const rig = await run(new Map(), { provisioningToken: "pt_unused", brokerPort: port, sendIntervalMs: 1000 });
    try {
      const [, first] = await rig.waitForLine(/^warn connect-failed state=provisioning reason=failed retryInMs=(\d+)/);
      // Full jitter: the first retry is drawn from 0 to 1 s.
      expect(Number(first)).toBeLessThanOrEqual(1000);
      await eventually(() => rig.lines.filter((l) => /connect-failed/.test(l)).length >= 2, "a second failed connect");
      expect(rig.lines.some((l) => /not sent/.test(l))).toBe(false);
    } finally {
      await rig.stop();
    }
  });

  test("a flash partition is refused with a message: Moddable has no flash module there", async () => {
    const rig = await run(new Map(), { provisioningToken: "pt_unused", storePartition: "provisio" });
    try {
      await rig.waitForLine(/flash partitions exist on the ESP32 only/);
    } finally {
      await rig.stop();
    }
  });
});

test("the device's randomness is the host's: two fresh runs of the simulator draw different bytes (Math.random there is the same every run)", async () => {
  const draws: string[] = [];
  for (let run = 0; run < 2; run++) {
    const rig = await startModdableRig({ platform: "lin" });
    try {
      draws.push(JSON.parse(Buffer.from((await rig.evaluate("moddableApp.randomBytes(32)")).reply).toString("utf8")));
    } finally {
      await rig.stop();
    }
  }
  expect(draws[0]).not.toBe(draws[1]);
});

test(`the app needs more than 384 stack slots (it overflowed there in mcsim) and runs in manifest.json's ${manifest.creation.stack}`, async () => {
  const platform = await startTestPlatform();
  try {
    const { body } = await platform.api("POST", "/api/tokens", {});
    const settings = {
      brokerHost: "127.0.0.1",
      brokerPort: platform.mqttPort,
      provisioningToken: body.token,
      deviceId: "esp32-stack",
      sendIntervalMs: 4000,
    };
    const small = await startModdableRig({ speed: 5, creation: { ...manifest.creation, stack: 384 } });
    await small.evaluate(`moddableApp.start(${JSON.stringify(settings)})`).catch(() => undefined);
    await expect(small.waitForLine(/verification code/, 10_000)).rejects.toThrow(/stack overflow/);
    await small.stop().catch(() => undefined);

    const rig = await startModdableRig({ speed: 5 });
    try {
      await rig.evaluate(`moddableApp.start(${JSON.stringify(settings)})`);
      await approveAndCollectReadings(rig, platform, "esp32-stack");
      expect(rig.peakStackSlots).toBeGreaterThan(384);
      expect(rig.peakStackSlots).toBeLessThan(manifest.creation.stack);
    } finally {
      await rig.stop();
    }
  } finally {
    await platform.stop();
  }
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
      await rig.waitForLine(/^echo closed failed send queue full$/);
      expect(rig.lines).not.toContain("echo open");
    } finally {
      await rig.stop();
    }
  });
});

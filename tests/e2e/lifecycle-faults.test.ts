/**
 * Faults in the middle of a token refresh, with a real DeviceClient against the real platform
 * (child process: aedes, SQLite) through a TCP proxy: the platform restarting, the link dropping
 * with the refresh reply on it, the power failing inside the write of the new token. The device
 * ends connected on a valid token every time, and the tokens it left behind are refused.
 *
 * Tokens live 20 s and the devices refresh a quarter in (5 s), so the old token has 15 s of
 * validity left to ride out a fault: well under the platform's 6 refreshes a minute.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parser, type Packet } from "mqtt-packet";
import { openRegistrationToken } from "../../sdk/crypto/sealed-token";
import { loadIdentity } from "../../sdk/identity";
import type { Flash } from "../../sdk/storage/flash";
import { FlashRecordStore } from "../../sdk/storage/flash-record-store";
import type { RecordStore } from "../../sdk/ports";
import { FileRecordStore } from "../../targets/node/file-store";
import { NorFlashFile, PowerCutError } from "../../targets/node/nor-flash-file";
import { connackCode } from "../../testkit/platform/mqtt-device";
import { startTestPlatform, type TestPlatform } from "../../testkit/node/platform";
import { TcpProxy } from "../../testkit/node/tcp-proxy";
import { createToken, decide } from "../../testkit/e2e/technician";
import { TestDevice } from "../../testkit/e2e/test-device";

jest.setTimeout(60000);

const lifetimeS = 20;
const refresh = { lifetimeFraction: 0.25 };

let platform: TestPlatform;
let proxy: TcpProxy;
const devices: TestDevice[] = [];

/** Folders a test made, removed after it. */
const folders: string[] = [];

beforeEach(async () => {
  platform = await startTestPlatform();
  proxy = await TcpProxy.start(platform.mqttPort);
});

afterEach(async () => {
  for (const device of devices.splice(0)) device.stop();
  await proxy.close();
  await platform.stop();
  for (const folder of folders.splice(0)) rmSync(folder, { recursive: true, force: true });
});

/** A device behind the proxy, provisioned with a 20 s registration lifetime and approved. */
async function registeredDevice(
  deviceId: string,
  options: { store?: RecordStore; stateDir?: string } = {},
): Promise<TestDevice> {
  const token = await createToken(platform, { registrationLifetime: lifetimeS });
  const device = new TestDevice({ port: proxy.port, token, deviceId, refresh, ...options });
  devices.push(device);
  await decide(platform, await device.displayed(), "approve");
  await device.reaches("connected");
  return device;
}

function fileToken(device: TestDevice): string | undefined {
  return loadIdentity(new FileRecordStore(join(device.stateDir, "record.json")))?.registration?.token;
}

/** The body of a refresh reply when `packet` (one whole MQTT packet from the broker) is one; a status reply has no `registration`. */
function refreshReply(packet: Buffer): { registration: unknown } | undefined {
  let decoded: Packet | undefined;
  const mqttParser = parser({ protocolVersion: 4 });
  mqttParser.on("packet", (p) => (decoded = p));
  mqttParser.parse(packet);
  if (decoded?.cmd !== "publish" || !decoded.topic.endsWith("/res/token")) return undefined;
  const body = JSON.parse(decoded.payload.toString());
  return body.registration === undefined ? undefined : body;
}

/** The platform stops (its data kept) and starts again on the same data, at a new port the proxy follows. */
async function restartPlatform(): Promise<void> {
  await platform.stop({ keepData: true });
  platform = await startTestPlatform({ dataDir: platform.dataDir, clockOffsetMs: platform.clockOffsetMs });
  proxy.upstreamPort = platform.mqttPort;
}

const connackWith = (deviceId: string, password: string) =>
  connackCode(platform.mqttUrl, {
    clientId: `ws_default:${deviceId}`,
    username: `ws_default:${deviceId}`,
    password,
    clean: false,
  });

/** Resolves once the device's stored token is no longer `previous` and it is connected; the new token. */
async function nextToken(device: TestDevice, stored: () => string | undefined, previous: string): Promise<string> {
  await device.until(
    "a refreshed token in use",
    () => stored() !== previous && device.client.state === "connected",
    25000,
  );
  return stored()!;
}

test("a platform restart while a refresh is outstanding, then just after its reply: the device ends on a valid new token", async () => {
  const device = await registeredDevice("fault-restart");
  const registeredAt = device.states.length;
  const first = fileToken(device)!;

  // The platform issues a token and goes down before the device has the reply.
  let restarted: Promise<void> | undefined;
  proxy.rewrite = (packet) => {
    if (!refreshReply(packet)) return packet;
    proxy.rewrite = undefined;
    restarted = restartPlatform();
    return Buffer.alloc(0);
  };
  await device.until("the refresh reply", () => restarted !== undefined, 15000);
  await restarted;
  const second = await nextToken(device, () => fileToken(device), first);

  // This time the reply reaches the device, and the platform restarts as it switches tokens.
  proxy.rewrite = (packet) => {
    if (!refreshReply(packet)) return packet;
    proxy.rewrite = undefined;
    restarted = restartPlatform();
    return packet;
  };
  restarted = undefined;
  await device.until("the second refresh reply", () => restarted !== undefined, 15000);
  // Set by the proxy's rewrite meanwhile (the narrowing above does not see it).
  await (restarted as Promise<void> | undefined);
  const third = await nextToken(device, () => fileToken(device), second);

  await device.client.send("telemetry", new Uint8Array([1]));
  expect(device.displays).toHaveLength(1);
  expect(
    device.states.slice(registeredAt).filter(([state]) => state !== "connecting" && state !== "connected"),
  ).toEqual([]);
  device.stop();
  expect(await connackWith("fault-restart", first)).toBe(5);
  expect(await connackWith("fault-restart", second)).toBe(5);
  expect(await connackWith("fault-restart", third)).toBe(0);
});

test("the link drops with the refresh reply on it: the device reconnects on its old token, refreshes again, and the old token is then refused", async () => {
  const device = await registeredDevice("fault-drop");
  const old = fileToken(device)!;
  const { keyPair } = loadIdentity(new FileRecordStore(join(device.stateDir, "record.json")))!;
  let dropped = false;
  let lost: string | undefined;
  proxy.rewrite = (packet) => {
    const reply = refreshReply(packet);
    if (!reply) return packet;
    proxy.rewrite = undefined;
    dropped = true;
    lost = openRegistrationToken(reply.registration, keyPair.secretKey);
    proxy.cut();
    return Buffer.alloc(0);
  };
  await device.until("the dropped refresh reply", () => dropped, 15000);
  const current = await nextToken(device, () => fileToken(device), old);

  expect(lost).toBeDefined();
  expect([old, lost]).not.toContain(current);
  expect(device.displays).toHaveLength(1);
  await device.client.send("telemetry", new Uint8Array([2]));
  // The old token worked to reconnect (its grace); now that the new one is in use it is refused,
  // and the token that never reached the device was withdrawn by the refresh that followed.
  expect(await connackWith("fault-drop", old)).toBe(5);
  expect(await connackWith("fault-drop", lost!)).not.toBe(0);
});

/** Flash that notes the length of each write and whether the power failed. */
class WatchedFlash implements Flash {
  readonly writes: number[] = [];
  powerCut = false;
  constructor(readonly nor: NorFlashFile) {}
  get sectorSize(): number {
    return this.nor.sectorSize;
  }
  get size(): number {
    return this.nor.size;
  }
  read(offset: number, length: number): Uint8Array {
    return this.nor.read(offset, length);
  }
  write(offset: number, bytes: Uint8Array): void {
    this.writes.push(bytes.length);
    try {
      this.nor.write(offset, bytes);
    } catch (error) {
      this.powerCut ||= error instanceof PowerCutError;
      throw error;
    }
  }
  erase(sector: number): void {
    this.nor.erase(sector);
  }
}

test("a power cut inside the write of the refreshed token: after the reboot the device connects on its old token and refreshes", async () => {
  const stateDir = mkdtempSync(join(tmpdir(), "provisio-e2e-flash-"));
  folders.push(stateDir);
  const geometry = { path: join(stateDir, "flash.bin"), sectorSize: 4096, sectorCount: 2 };
  const flash = new WatchedFlash(new NorFlashFile(geometry));
  const device = await registeredDevice("fault-power", { store: new FlashRecordStore({ flash }), stateDir });
  // Read the flash file as the next boot would.
  const flashToken = () =>
    loadIdentity(new FlashRecordStore({ flash: new NorFlashFile(geometry) }))?.registration?.token;
  const old = flashToken()!;
  // The refreshed record is about the size of the registered one: the cut lands mid-entry.
  const registeredEntry = flash.writes[flash.writes.length - 1];
  const writesBefore = flash.writes.length;
  flash.nor.cutPowerAfterBytes(registeredEntry >> 1);
  await device.until("the power cut", () => flash.powerCut, 15000);
  device.stop();

  expect(flashToken()).toBe(old);
  const rebooted = new TestDevice({
    port: proxy.port,
    token: "pt_unused-while-registered",
    refresh,
    stateDir,
    store: new FlashRecordStore({ flash: new NorFlashFile(geometry) }),
  });
  devices.push(rebooted);
  const current = await nextToken(rebooted, flashToken, old);

  // The refresh's write was the first after the cut was set, and longer than the bytes it got.
  expect(flash.writes[writesBefore]).toBeGreaterThan(registeredEntry >> 1);
  expect(rebooted.states[0]).toEqual(["connecting", undefined]);
  expect(rebooted.displays).toHaveLength(0);
  await rebooted.client.send("telemetry", new Uint8Array([3]));
  rebooted.stop();
  expect(await connackWith("fault-power", old)).toBe(5);
  expect(await connackWith("fault-power", current)).toBe(0);
});

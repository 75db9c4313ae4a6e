/**
 * Two platform workers on one PostgreSQL database, as a cluster runs them: what must hold when
 * technicians act on both at once is held by the database (constraints and serializable
 * transactions), not by either worker's memory. Each race is run on both workers at the same moment.
 */
import { followEvents, type EventStream } from "../../simulator/cli/event-stream";
import { eventually } from "../../testkit/node/eventually";
import { openStore } from "../../simulator/platform/store";
import { startTestPlatform, type TestPlatform } from "../../testkit/node/platform";
import { ProvisioningDevice, newToken } from "../../testkit/platform/mqtt-device";

jest.setTimeout(60_000);

let first: TestPlatform;
let second: TestPlatform;

beforeAll(async () => {
  first = await startTestPlatform({ database: "postgres" });
  second = await startTestPlatform({ databaseUrl: first.databaseUrl });
});
afterAll(async () => {
  await second?.stop();
  await first?.stop();
});

/** A device connected to the first worker, its operation revealed and waiting for a technician. */
async function pendingOperation(token: string, deviceId?: string) {
  const device = await ProvisioningDevice.connect(first.mqttUrl, token);
  const init = await device.init(deviceId ? { deviceId } : {});
  const revealed = await device.complete(init.operationId);
  expect(revealed.status).toBe(202);
  return { device, operationId: init.operationId as string, code: revealed.verificationCode as string };
}

const approve = (worker: TestPlatform, operation: string, body: unknown = {}) =>
  worker.api("POST", `/api/operations/${operation}/approve`, body);

test("the workers share one admin key and one token secret: a token made on one provisions through the other", async () => {
  expect(second.adminKey).toBe(first.adminKey);
  const token = await newToken(second);
  const { device, operationId, code } = await pendingOperation(token, "shared-0001");
  expect((await approve(second, code)).status).toBe(200);
  // Sealed by the second worker, fetched from the first: both seal with the same secret.
  const reply = await device.complete(operationId, false);
  expect(reply).toMatchObject({ status: 200, deviceId: "shared-0001" });
  expect(device.keys.open(reply.registration)).toMatch(/^rt_/);
  await device.end();
});

test("one operation approved on both workers at once is approved once", async () => {
  const token = await newToken(first);
  for (let round = 0; round < 5; round++) {
    const { device, operationId } = await pendingOperation(token, `race-${round}-once`);
    const results = await Promise.all([approve(first, operationId), approve(second, operationId)]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
    expect(results.find((r) => r.status === 409)!.body.error).toBe("operation-not-pending");
    await device.end();
  }
});

test("a token's last uses are taken once, however many approvals race for them", async () => {
  const token = await newToken(first, { maxUses: 3 });
  const pending = [];
  for (let i = 0; i < 6; i++) pending.push(await pendingOperation(token, `uses-000${i}`));
  const results = await Promise.all(pending.map((p, i) => approve(i % 2 ? second : first, p.operationId)));
  expect(results.filter((r) => r.status === 200)).toHaveLength(3);
  expect(results.filter((r) => r.status === 409).map((r) => r.body.error)).toEqual([
    "token-used-up",
    "token-used-up",
    "token-used-up",
  ]);
  const listed = (await second.api("GET", "/api/tokens")).body.tokens;
  expect(listed.find((t: { hint: string; uses: number }) => token.startsWith(t.hint.slice(0, -1)))).toMatchObject({
    uses: 3,
    state: "used-up",
  });
  await Promise.all(pending.map((p) => p.device.end()));
});

test("two devices given the same Device ID at once: one gets it, the other is refused", async () => {
  const token = await newToken(first);
  for (let round = 0; round < 5; round++) {
    const deviceId = `contested-${round}`;
    const a = await pendingOperation(token, deviceId);
    const b = await pendingOperation(token, deviceId);
    const results = await Promise.all([approve(first, a.operationId), approve(second, b.operationId)]);
    expect(results.map((r) => r.status).sort()).toEqual([200, 409]);
    expect(results.find((r) => r.status === 409)!.body.error).toBe("device-id-taken");
    const devices = (await first.api("GET", "/api/devices?limit=1000")).body.devices;
    expect(devices.filter((d: { deviceId: string }) => d.deviceId === deviceId)).toHaveLength(1);
    await Promise.all([a.device.end(), b.device.end()]);
  }
});

test("an event stream on one worker shows what the other worker does", async () => {
  const events: { type: string; body: { operation?: { requestedDeviceId: string } } }[] = [];
  const stream: EventStream = followEvents(`${second.apiUrl}/api/events`, { adminKey: second.adminKey }, (event) =>
    events.push({ type: event.type, body: JSON.parse(event.data) }),
  );
  try {
    await stream.opened;
    // The device talks to the first worker's broker, the technician to the first worker's API.
    const { device, code } = await pendingOperation(await newToken(first), "evented-0001");
    expect((await approve(first, code)).status).toBe(200);
    const about = (type: string) =>
      events.some((e) => e.type === type && e.body.operation?.requestedDeviceId === "evented-0001");
    await eventually(
      () => ["operation-created", "operation-revealed", "operation-approved"].every(about),
      "the first worker's operation events on the second worker's stream",
      { detail: () => JSON.stringify(events.map((e) => e.type)) },
    );
    expect(events.filter((e) => e.type === "operation-approved")).toHaveLength(1);
    await device.end();
  } finally {
    stream.close();
  }
});

test("transactions given the same lock key take turns: each runs once, and sees what the other committed", async () => {
  // How two workers store the same devices' messages (rabbitmq-broker.ts): without the key, the
  // second would read before the first commits, collide, and run again.
  const workers = await Promise.all([1, 2].map(() => openStore({ url: first.databaseUrl as string }, Date.now)));
  try {
    const runs = [0, 0];
    const takeNext = (worker: number) =>
      workers[worker].transaction(
        async (tx) => {
          runs[worker]++;
          const taken = await tx.get<{ n: number }>("SELECT COUNT(*) AS n FROM secrets WHERE name LIKE 'lock-probe-%'");
          await tx.run("INSERT INTO secrets (name, value) VALUES (?, ?)", `lock-probe-${taken!.n}`, `worker ${worker}`);
          await new Promise((resolve) => setTimeout(resolve, 300));
        },
        { lockKeys: ["probe-device"] },
      );
    const firstTurn = takeNext(0);
    await new Promise((resolve) => setTimeout(resolve, 100));
    await Promise.all([firstTurn, takeNext(1)]);
    expect(runs).toEqual([1, 1]);
    const rows = await workers[0].all<{ name: string; value: string }>(
      "SELECT name, value FROM secrets WHERE name LIKE 'lock-probe-%' ORDER BY name",
    );
    expect(rows).toEqual([
      { name: "lock-probe-0", value: "worker 0" },
      { name: "lock-probe-1", value: "worker 1" },
    ]);
  } finally {
    await Promise.all(workers.map((db) => db.close()));
  }
});

/** Malformed and hostile input: each gets the protocol's error and the platform keeps serving. */
import { request } from "node:http";
import { startTestPlatform, type TestPlatform } from "../../testkit/node/platform";
import {
  ProvisioningDevice,
  RegisteredDevice,
  connectRegistered,
  newToken,
  provision,
} from "../../testkit/platform/mqtt-device";

let platform: TestPlatform;
let device: ProvisioningDevice;
let registered: RegisteredDevice;
let registrationToken: string;
const root = "ws/ws_default/dev/bad-input-dev";

beforeAll(async () => {
  platform = await startTestPlatform();
  const token = await newToken(platform);
  registrationToken = (await provision(platform, token, "bad-input-dev")).token;
  registered = await RegisteredDevice.connect(platform.mqttUrl, "ws_default", "bad-input-dev", registrationToken);
  device = await ProvisioningDevice.connect(platform.mqttUrl, token);
});
afterAll(async () => {
  await device.end();
  await registered.end();
  await platform.stop();
});

const malformed: [string, string | Buffer, string | null][] = [
  ["not JSON", "{nope", null],
  ["not UTF-8", Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), null],
  ["a JSON array", "[1,2]", null],
  ["no rid", JSON.stringify({ v: 1 }), null],
  ["a long rid", JSON.stringify({ v: 1, rid: "r".repeat(33) }), null],
  ["a wrong version", JSON.stringify({ v: 2, rid: "v2" }), "v2"],
  ["oversized JSON", JSON.stringify({ v: 1, rid: "big", pad: "x".repeat(4100) }), null],
];

describe.each(["prov-init", "prov-complete", "token"])("on %s", (where) => {
  test.each(malformed)("%s gets 400 invalid-request", async (_name, payload, rid) => {
    const [client, inbox, topic, res] =
      where === "token"
        ? [registered.client, registered.inbox, `${root}/req/token`, `${root}/res/token`]
        : [
            device.client,
            device.inbox,
            `prov/${device.keys.clientId}/req/${where.slice(5)}`,
            `prov/${device.keys.clientId}/res/${where.slice(5)}`,
          ];
    await client.publishAsync(topic, payload, { qos: 1 });
    const reply = await inbox.next((m) => m.topic === res);
    expect(reply.body).toMatchObject({ rid, status: 400, error: "invalid-request" });
  });
});

test("bad fields get their errors and the sessions keep working", async () => {
  expect(await device.init({ deviceId: "no" })).toMatchObject({ status: 400, error: "invalid-device-id" });
  expect(await device.init({ deviceId: "bad/slash" })).toMatchObject({ status: 400, error: "invalid-device-id" });
  expect(await device.init({ publicKey: "short" })).toMatchObject({ status: 400, error: "invalid-request" });
  const many = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, "v"]));
  expect(await device.init({ attributes: many })).toMatchObject({ status: 400, error: "invalid-request" });
  expect(await device.init({ attributes: { long: "x".repeat(65) } })).toMatchObject({
    status: 400,
    error: "invalid-request",
  });
  expect(await device.init({ attributes: { n: 5 } })).toMatchObject({ status: 400, error: "invalid-request" });
  expect(await device.complete("op_doesnotexist")).toMatchObject({
    status: 404,
    error: "unknown-operation",
    operationId: "op_doesnotexist",
  });
  expect(await device.request("complete", {})).toMatchObject({ status: 400, error: "invalid-request" });
  expect(await device.request("unknown", {})).toMatchObject({ status: 404, error: "unknown-request" });
  // Still serving: a good request after all of that.
  expect((await device.init({ deviceId: "good-device" })).status).toBe(200);
  await registered.client.publishAsync(`${root}/req/token`, JSON.stringify({ v: 1, rid: "s", op: "status" }), {
    qos: 1,
  });
  expect((await registered.inbox.next((m) => m.body?.rid === "s")).body.status).toBe(200);
});

test("too many inits from one client get 429 rate-limited", async () => {
  const other = await ProvisioningDevice.connect(platform.mqttUrl, await newToken(platform));
  const statuses: number[] = [];
  for (let i = 0; i < 8; i++) statuses.push((await other.init()).status);
  expect(statuses.slice(0, 6)).toEqual([200, 200, 200, 200, 200, 200]);
  expect(await other.init()).toMatchObject({ status: 429, error: "rate-limited", retryAfter: expect.any(Number) });
  await platform.advanceClock(61_000);
  expect((await other.init()).status).toBe(200);
  await other.end();
});

test("an invalid stream name closes the session and stores nothing", async () => {
  const before = (await platform.api("GET", "/api/messages")).body.messages.length;
  const { client } = await connectRegistered(platform.mqttUrl, "ws_default", "bad-input-dev", registrationToken);
  const closed = new Promise<void>((resolve) => client.once("close", () => resolve()));
  client.publish(`${root}/msg/bad stream!`, "x", { qos: 1 });
  await closed;
  await client.endAsync(true);
  expect((await platform.api("GET", "/api/messages")).body.messages.length).toBe(before);
});

describe("HTTP API", () => {
  const raw = (method: string, path: string, headers: Record<string, string>, body?: string) =>
    new Promise<{ status: number; body: any }>((resolve, reject) => {
      const withType = body === undefined ? headers : { "content-type": "application/json", ...headers };
      const req = request(`${platform.apiUrl}${path}`, { method, headers: withType }, (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c) => chunks.push(c));
        res.on("end", () => resolve({ status: res.statusCode!, body: JSON.parse(Buffer.concat(chunks).toString()) }));
      });
      req.on("error", reject);
      req.end(body);
    });
  const auth = () => ({ authorization: `Bearer ${platform.adminKey}` });

  test("no key or a wrong key: 401", async () => {
    expect(await raw("GET", "/api/tokens", {})).toMatchObject({ status: 401, body: { error: "unauthorized" } });
    expect(await raw("GET", "/api/tokens", { authorization: "Bearer nope" })).toMatchObject({ status: 401 });
  });
  test("bad JSON, oversized body, a body not JSON, unknown route, wrong method, bad parameters", async () => {
    expect(await raw("POST", "/api/tokens", auth(), "{bad")).toMatchObject({
      status: 400,
      body: { error: "invalid-json" },
    });
    expect(await raw("POST", "/api/tokens", auth(), "x".repeat(20_000))).toMatchObject({
      status: 413,
      body: { error: "body-too-large" },
    });
    expect(await raw("POST", "/api/tokens", { ...auth(), "content-type": "text/plain" }, "{}")).toMatchObject({
      status: 415,
      body: { error: "unsupported-media-type" },
    });
    expect(await raw("GET", "/api/nothing", auth())).toMatchObject({ status: 404, body: { error: "not-found" } });
    expect(await raw("DELETE", "/api/tokens", auth())).toMatchObject({
      status: 405,
      body: { error: "method-not-allowed" },
    });
    expect(await raw("POST", "/api/tokens", auth(), JSON.stringify({ maxUses: -1 }))).toMatchObject({
      status: 400,
      body: { error: "invalid-request" },
    });
    expect(await raw("POST", "/api/tokens", auth(), JSON.stringify({ deviceId: "a" }))).toMatchObject({
      status: 400,
      body: { error: "invalid-device-id" },
    });
    expect(await raw("GET", "/api/operations?state=weird", auth())).toMatchObject({ status: 400 });
    expect(await raw("GET", "/api/messages?limit=0", auth())).toMatchObject({ status: 400 });
    expect(
      await raw("POST", "/api/operations/op_none/reject", auth(), JSON.stringify({ reason: "x".repeat(201) })),
    ).toMatchObject({
      status: 400,
      body: { error: "invalid-request" },
    });
    expect(
      await raw("POST", "/api/operations/op_none/reject", auth(), JSON.stringify({ reason: "a\nb" })),
    ).toMatchObject({
      status: 400,
      body: { error: "invalid-request" },
    });
    expect(await raw("POST", "/api/operations/op_none/approve", auth(), "{}")).toMatchObject({
      status: 404,
      body: { error: "unknown-operation" },
    });
    expect(await raw("POST", "/api/tokens/%E0%A4%A/revoke", auth())).toMatchObject({ status: 400 });
    expect(await raw("POST", "/api/tokens/ptk_none/revoke", auth())).toMatchObject({
      status: 404,
      body: { error: "unknown-token" },
    });
    expect((await raw("GET", "/api/tokens", auth())).status).toBe(200);
  });
});

/**
 * Every list of the API is paged with a cursor, bodies are bounded, and ended operations do not
 * pile up: a chatty device cannot make one request build a body of hundreds of megabytes.
 */
import { startTestPlatform, type TestPlatform } from "../../testkit/node/platform";
import { connect, newToken, provision, ProvisioningDevice, registeredLogin } from "../../testkit/platform/mqtt-device";

jest.setTimeout(60_000);

let platform: TestPlatform;
beforeAll(async () => {
  platform = await startTestPlatform();
});
afterAll(() => platform.stop());

async function publish(deviceId: string, payloads: (string | Buffer)[]): Promise<void> {
  const token = await newToken(platform);
  const { token: registration } = await provision(platform, token, deviceId);
  const device = await connect(platform.mqttUrl, registeredLogin("ws_default", deviceId, registration));
  for (const payload of payloads)
    await device.client.publishAsync(`ws/ws_default/dev/${deviceId}/msg/s`, payload, { qos: 1 });
  await device.client.endAsync();
}

test("messages come newest first, a page at a time, each once, until next is null", async () => {
  await publish(
    "paged-0001",
    Array.from({ length: 250 }, (_, i) => `m${i}`),
  );
  const seen: string[] = [];
  let after: string | null = "";
  let pages = 0;
  while (after !== null) {
    const { status, body } = await platform.api(
      "GET",
      `/api/messages?device=paged-0001&limit=100${after ? `&after=${after}` : ""}`,
    );
    expect(status).toBe(200);
    expect(body.messages.length).toBeLessThanOrEqual(100);
    seen.push(
      ...body.messages.map((m: { payloadBase64: string }) => Buffer.from(m.payloadBase64, "base64").toString()),
    );
    after = body.next;
    pages++;
  }
  expect(pages).toBe(3);
  expect(seen).toEqual(Array.from({ length: 250 }, (_, i) => `m${249 - i}`));
});

test("a page of large messages stops at 4 MiB of payload, whatever the limit", async () => {
  const big = Buffer.alloc(256 * 1024, 0x41);
  await publish(
    "paged-0002",
    Array.from({ length: 20 }, () => big),
  );
  const { body } = await platform.api("GET", "/api/messages?device=paged-0002&limit=1000");
  expect(body.messages.length).toBe(16);
  expect(body.next).not.toBeNull();
  const rest = await platform.api("GET", `/api/messages?device=paged-0002&limit=1000&after=${body.next}`);
  expect(rest.body.messages.length).toBe(4);
  expect(rest.body.next).toBeNull();
});

test("tokens, operations and devices are paged the same way", async () => {
  for (let i = 0; i < 3; i++) await newToken(platform, { name: `paged-token-${i}` });
  const first = await platform.api("GET", "/api/tokens?limit=2");
  expect(first.body.tokens).toHaveLength(2);
  const second = await platform.api("GET", `/api/tokens?limit=1000&after=${first.body.next}`);
  const ids = [...first.body.tokens, ...second.body.tokens].map((t: { id: string }) => t.id);
  expect(new Set(ids).size).toBe(ids.length);
  expect(second.body.next).toBeNull();
  for (const path of ["/api/operations?limit=1", "/api/devices?limit=1"]) {
    const { status, body } = await platform.api("GET", path);
    expect(status).toBe(200);
    expect(body.next).toEqual(expect.any(String));
  }
});

test("a limit or cursor out of range is a 400 with a clear message", async () => {
  for (const query of ["limit=0", "limit=1001", "limit=abc", "after=-1", "after=1e9", "after=99999999999999999"]) {
    const { status, body } = await platform.api("GET", `/api/messages?${query}`);
    expect({ query, status, error: body.error }).toEqual({ query, status: 400, error: "invalid-request" });
  }
});

test("operations that ended are deleted once the retention period is over", async () => {
  const own = await startTestPlatform();
  const dataDir = own.dataDir;
  let later: TestPlatform | undefined;
  try {
    const token = await newToken(own);
    const rejected = await ProvisioningDevice.connect(own.mqttUrl, token);
    const op = await rejected.init();
    await rejected.complete(op.operationId);
    expect((await own.api("POST", `/api/operations/${op.operationId}/reject`)).status).toBe(200);
    await rejected.end();
    await own.stop({ keepData: true });

    later = await startTestPlatform({ dataDir, clockOffsetMs: 31 * 24 * 3600_000 });
    const { body } = await later.api("GET", "/api/operations");
    expect(body.operations.map((o: { id: string }) => o.id)).not.toContain(op.operationId);
    expect(later.logLines().join("\n")).toMatch(/deleted 1 operations that ended over the retention period ago/);
  } finally {
    await (later ?? own).stop();
  }
});

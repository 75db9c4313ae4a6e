/** A platform restart mid-operation loses nothing: the pending operation resumes and completes. */
import { startTestPlatform } from "../../testkit/node/platform";
import { ProvisioningDevice, connectRegistered, newToken } from "../../testkit/platform/mqtt-device";

test("restart between init and approval, then between approval and connect", async () => {
  const first = await startTestPlatform();
  const token = await newToken(first, { name: "survives" });
  const device = await ProvisioningDevice.connect(first.mqttUrl, token);
  const init = await device.init({ deviceId: "restart-0001" });
  const revealed = await device.complete(init.operationId);
  await device.end();
  await first.stop({ keepData: true });

  const second = await startTestPlatform({ dataDir: first.dataDir, clockOffsetMs: first.clockOffsetMs });
  expect(second.adminKey).toBe(first.adminKey);
  const again = await ProvisioningDevice.connect(second.mqttUrl, token, device.keys);
  expect(await again.init({ operationId: init.operationId })).toMatchObject({
    operationId: init.operationId,
    nonce: init.nonce,
  });
  const pending = (await second.api("GET", "/api/operations?state=pending")).body.operations;
  expect(pending).toEqual([
    expect.objectContaining({ id: init.operationId, verificationCode: revealed.verificationCode }),
  ]);
  await second.api("POST", `/api/operations/${revealed.verificationCode}/approve`, {});
  await again.end();
  await second.stop({ keepData: true });

  const third = await startTestPlatform({ dataDir: first.dataDir, clockOffsetMs: second.clockOffsetMs });
  const last = await ProvisioningDevice.connect(third.mqttUrl, token, device.keys);
  const approved = await last.complete(init.operationId, false);
  expect(approved).toMatchObject({ status: 200, deviceId: "restart-0001" });
  await last.end();
  const registered = await connectRegistered(
    third.mqttUrl,
    "ws_default",
    "restart-0001",
    device.keys.open(approved.registration)!,
  );
  await registered.client.publishAsync("ws/ws_default/dev/restart-0001/msg/log", "kept", { qos: 1 });
  await registered.client.endAsync();
  await third.stop({ keepData: true });

  const fourth = await startTestPlatform({ dataDir: first.dataDir });
  const messages = (await fourth.api("GET", "/api/messages?device=restart-0001")).body.messages;
  expect(messages.map((m: any) => Buffer.from(m.payloadBase64, "base64").toString())).toEqual(["kept"]);
  expect((await fourth.api("GET", "/api/tokens")).body.tokens).toEqual([
    expect.objectContaining({ name: "survives", uses: 1 }),
  ]);
  await fourth.stop();
});

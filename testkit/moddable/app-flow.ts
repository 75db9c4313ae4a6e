/** The technician's half of an example-app run: shared by the plain and the TLS tests. */
import { approveCode } from "../e2e/technician";
import type { TestPlatform } from "../node/platform";
import type { ModdableRig } from "./moddable-host";

/**
 * Approves the code the app shows, waits until it is registered as `deviceId` and has sent two
 * readings, and returns the sequence numbers of the readings the platform stored.
 */
export async function approveAndCollectReadings(
  rig: ModdableRig,
  platform: TestPlatform,
  deviceId: string,
): Promise<number[]> {
  const [, code] = await rig.waitForLine(/verification code (\w{4}-\w{4})/);
  await approveCode(platform, code);
  await rig.waitForLine(new RegExp(`registered as \\S+:${deviceId}`));
  await rig.waitForLine(/sent reading 2$/);
  const { body: stored } = await platform.api("GET", `/api/messages?device=${deviceId}`);
  return stored.messages.map(
    (m: { payloadBase64: string }) => JSON.parse(Buffer.from(m.payloadBase64, "base64").toString("utf8")).seq,
  );
}

/** The fakes' state as the app entry's status() reports it, after a full collection inside XS. */
export async function appStatus(rig: ModdableRig): Promise<{ sockets: number; timers: number; ticks: number }> {
  return JSON.parse(Buffer.from((await rig.evaluate("moddableApp.status()")).reply).toString("utf8"));
}

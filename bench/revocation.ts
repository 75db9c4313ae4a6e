/**
 * Time from a technician's `devices revoke` (the HTTP API call) to the device's session being
 * closed by the broker, as the device sees it (its socket's close event), on loopback against a
 * real platform process (aedes, SQLite with full fsync). Median of a few runs; a new device
 * key provisions the revoked Device ID again for each run (one key would hit the init rate
 * limit). Run alone: `npm run bench -- revocation`.
 */
import { performance } from "node:perf_hooks";
import { startTestPlatform } from "../testkit/node/platform";
import { RegisteredDevice, closedByBroker, provision } from "../testkit/platform/mqtt-device";
import type { BenchReport } from "./run";

const runs = 7;
const deviceId = "bench-revoke";

export async function run(): Promise<BenchReport> {
  // The test platform's child process is unref'd (it must never keep jest alive): hold the loop.
  const keepAlive = setInterval(() => {}, 1000);
  const platform = await startTestPlatform().catch((error: unknown) => {
    clearInterval(keepAlive);
    throw error;
  });
  try {
    const provisioningToken = (await platform.api("POST", "/api/tokens", {})).body.token;
    const closeMs: number[] = [];
    const apiMs: number[] = [];
    for (let i = 0; i < runs; i++) {
      const { token } = await provision(platform, provisioningToken, deviceId);
      const session = await RegisteredDevice.connect(platform.mqttUrl, "ws_default", deviceId, token);
      const closed = closedByBroker(session.client, 10_000);
      const start = performance.now();
      const answered = platform.api("POST", `/api/devices/${deviceId}/revoke`).then(() => performance.now() - start);
      if (!(await closed)) throw new Error("the session was not closed within 10 s of revocation");
      closeMs.push(performance.now() - start);
      apiMs.push(await answered);
      await session.end();
    }
    const median = (values: number[]) => Math.round([...values].sort((a, b) => a - b)[values.length >> 1] * 10) / 10;
    const results = {
      runs,
      medianRevokeToCloseMs: median(closeMs),
      maxRevokeToCloseMs: Math.round(Math.max(...closeMs) * 10) / 10,
      medianApiReplyMs: median(apiMs),
    };
    return {
      name: "revocation",
      results,
      summary:
        `devices revoke to session closed: median ${results.medianRevokeToCloseMs} ms, max ${results.maxRevokeToCloseMs} ms ` +
        `over ${runs} runs (loopback, platform in a child process; API reply median ${results.medianApiReplyMs} ms); goal under 1000 ms`,
    };
  } finally {
    await platform.stop();
    clearInterval(keepAlive);
  }
}

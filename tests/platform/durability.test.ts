/**
 * A PUBACK means the message is on disk: the platform process is killed (SIGKILL, no shutdown)
 * while devices publish flat out, at a different moment each round, and after a restart on the
 * same data every acknowledged message is there, once. Bounded: a few rounds of about a second.
 */
import { eventually } from "../../testkit/node/eventually";
import { embeddedOnly, startTestPlatform, type TestPlatform } from "../../testkit/node/platform";
import { connect, newToken, provision, publishFlatOut, registeredLogin } from "../../testkit/platform/mqtt-device";

jest.setTimeout(90_000);

const devices = 8;
const rounds = 3;

// Kills and restarts a platform of its own; tests/cluster kills a worker and stops a broker node under load.
embeddedOnly(
  "no acknowledged message is lost, and none is stored twice, when the platform is killed under load",
  async () => {
    let platform: TestPlatform = await startTestPlatform();
    try {
      const token = await newToken(platform);
      const registered: { deviceId: string; token: string }[] = [];
      for (let i = 0; i < devices; i++) {
        const deviceId = `durable-${String(i).padStart(2, "0")}`;
        registered.push({ deviceId, token: (await provision(platform, token, deviceId)).token });
      }
      for (let round = 0; round < rounds; round++) {
        const sessions = await Promise.all(
          registered.map(({ deviceId, token: t }) =>
            connect(platform.mqttUrl, registeredLogin("ws_default", deviceId, t)),
          ),
        );
        const publishing = sessions.map(({ client }, i) =>
          publishFlatOut(
            client,
            `ws/ws_default/dev/${registered[i].deviceId}/msg/load`,
            `r${round}-${registered[i].deviceId}`,
          ),
        );
        await new Promise((resolve) => setTimeout(resolve, 300 + round * 350));
        process.kill(platform.pid, "SIGKILL");
        let closed = 0;
        for (const p of publishing) void p.stopped.then(() => closed++);
        await eventually(() => closed === devices, "every device's session closed by the kill", {
          timeoutMs: 15_000,
          detail: () => `${closed} of ${devices} closed`,
        });
        for (const { client } of sessions) client.end(true);

        const acked = publishing.flatMap((p) => [...p.acked]);
        expect(acked.length).toBeGreaterThan(0);
        const db = await platform.openDatabase();
        let stored: string[];
        try {
          stored = (await db.all<{ payload: Buffer }>("SELECT payload FROM messages WHERE stream = 'load'")).map(
            (row) => row.payload.toString(),
          );
        } finally {
          await db.close();
        }
        const counts = new Map<string, number>();
        for (const payload of stored) counts.set(payload, (counts.get(payload) ?? 0) + 1);
        expect(acked.filter((payload) => !counts.has(payload))).toEqual([]);
        expect([...counts].filter(([, count]) => count > 1)).toEqual([]);
        platform = await startTestPlatform({ dataDir: platform.dataDir });
      }
    } finally {
      await platform.stop();
    }
  },
);

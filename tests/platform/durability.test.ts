/**
 * A PUBACK means the message is on disk: the platform process is killed (SIGKILL, no shutdown)
 * while devices publish flat out, at a different moment each round, and after a restart on the
 * same data every acknowledged message is there, once. Bounded: a few rounds of about a second.
 */
import { eventually } from "../../testkit/node/eventually";
import { embeddedOnly, startTestPlatform, type TestPlatform } from "../../testkit/node/platform";
import { connect, newToken, provision, publishFlatOut, registeredLogin } from "../../testkit/platform/mqtt-device";

jest.setTimeout(90_000);

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

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
        const killed = platform.pid;
        process.kill(killed, "SIGKILL");
        // Once the process is gone no PUBACK can come: what was acknowledged is final. (A session
        // is not waited for to notice: one once never did in CI, 7 of 8 closed after 15 s.)
        await eventually(() => !isAlive(killed), "the platform gone after SIGKILL", { timeoutMs: 15_000 });
        for (const { client } of sessions) client.end(true);
        await Promise.all(publishing.map((p) => p.stopped));

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

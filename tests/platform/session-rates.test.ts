/**
 * SessionRates reads a device's rate off the broker's statistics (what RabbitMQ's topic question
 * cannot show): listings a second apart, as the cluster's workers read them.
 */
import type { BrokerConnection } from "../../simulator/platform/cluster/broker-admin";
import { SessionRates } from "../../simulator/platform/cluster/session-rates";

const limits = { messagesPerSecond: 100, bytesPerSecond: 10_000, burstSeconds: 1 };

function listed(
  name: string,
  packetsSent: number,
  bytesReceived: number,
  user = "ws_default:dev-0001",
): BrokerConnection {
  return { name, user, clientId: user, node: "n1", peerHost: "127.0.0.1", packetsSent, bytesReceived };
}

/** Lists `counts(second)` once a second for `seconds`; the names found over their rate, by second. */
function run(seconds: number, counts: (second: number) => BrokerConnection[]): string[][] {
  let now = 0;
  const rates = new SessionRates(limits, () => now);
  const over: string[][] = [];
  for (let second = 0; second < seconds; second++, now += 1000)
    over.push(rates.overRate(counts(second)).map((c) => c.name));
  return over;
}

test("a session within its rate, or at it with its burst, is never over", () => {
  expect(run(30, (s) => [listed("a", s * 100, s * 5_000)]).flat()).toEqual([]);
  expect(run(30, (s) => [listed("a", (s > 0 ? 100 : 0) + s * 100, s * 9_000)]).flat()).toEqual([]);
});

test("a session past its message rate is over within seconds; another is not", () => {
  const over = run(10, (s) => [
    listed("flood", s * 1000, s * 100, "ws_default:flood-01"),
    listed("a", s * 50, s * 100),
  ]);
  expect(over.findIndex((names) => names.includes("flood"))).toBeGreaterThan(0);
  expect(over.findIndex((names) => names.includes("flood"))).toBeLessThanOrEqual(2);
  expect(over.flat().filter((name) => name !== "flood")).toEqual([]);
});

test("a session past its byte rate, with few messages, is over", () => {
  const over = run(10, (s) => [listed("big", s, s * 50_000)]);
  expect(over.flat()).toContain("big");
});

test("what a connection did before its first listing is not counted, nor provisioning sessions", () => {
  expect(run(2, () => [listed("late", 1_000_000, 1e9)]).flat()).toEqual([]);
  expect(run(10, (s) => [listed("p", s * 10_000, s * 1e6, "provisioning")]).flat()).toEqual([]);
});

test("a session gets no fresh burst by reconnecting: the debt follows its client ID", () => {
  // Each second a new connection of the same device, already 300 messages in when first listed, then 300 more.
  let now = 0;
  const rates = new SessionRates(limits, () => now);
  const over: string[] = [];
  for (let second = 0; second < 10; second++, now += 500) {
    const name = `c${Math.floor(second / 2)}`;
    over.push(...rates.overRate([listed(name, second % 2 === 0 ? 300 : 600, 0)]).map((c) => c.name));
  }
  expect(over.length).toBeGreaterThan(0);
});

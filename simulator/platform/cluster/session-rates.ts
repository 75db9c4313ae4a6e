/**
 * A device's rate where the broker's topic question cannot keep it (broker-auth.ts): RabbitMQ
 * asks about a topic once per connection while it stays among the last 12 it used, and the question
 * carries no payload. Its statistics count both: the PUBACKs each connection was sent and the
 * bytes it sent. A registered session the statistics show past its rate and burst, in messages or
 * bytes, by more than OVER_RATE_TOLERANCE_MS is to be closed (the embedded broker slows it instead).
 */
import { DeviceRate, type DeviceRateLimits } from "../device-rate";
import type { BrokerConnection } from "./broker-admin";

/**
 * How far past its rate and burst the statistics may show a session before it is closed: they
 * come every 500 ms (`cluster up` sets the interval), so a session paced to its rate may show
 * half a second ahead, and a few packets besides PUBACKs (SUBACKs, PINGRESPs, pushed replies).
 */
export const OVER_RATE_TOLERANCE_MS = 1500;

interface Counts {
  packetsSent: number;
  bytesReceived: number;
}

export class SessionRates {
  readonly #taken: DeviceRate;
  /** Each registered connection's counts when last listed. */
  #counted = new Map<string, Counts>();

  constructor(limits: Partial<DeviceRateLimits> | undefined, now: () => number) {
    this.#taken = new DeviceRate(limits, now);
  }

  /**
   * The registered sessions of this listing (one every second) past their rate. A connection is
   * counted from its second listing on: the first shows what it did before, at no known pace.
   */
  overRate(connections: BrokerConnection[]): BrokerConnection[] {
    const over: BrokerConnection[] = [];
    const counted = new Map<string, Counts>();
    for (const connection of connections) {
      if (connection.user === "provisioning") continue;
      const { name, clientId, packetsSent, bytesReceived } = connection;
      counted.set(name, { packetsSent, bytesReceived });
      const before = this.#counted.get(name);
      if (!before) continue;
      const aheadMs = this.#taken.delayMs(
        clientId,
        bytesReceived - before.bytesReceived,
        packetsSent - before.packetsSent,
      );
      if (aheadMs > OVER_RATE_TOLERANCE_MS) over.push(connection);
    }
    this.#counted = counted;
    return over;
  }
}

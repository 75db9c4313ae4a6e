/**
 * The SDK's MqttClient on the real Node ports (TcpTransport, nodeClock, nodeRandom, StdoutLog),
 * recording what it reports, with promise wrappers; and the checks both broker tests share.
 */
import { MqttClient, type MqttClientOptions, type MqttClientState, type PublishPacket } from "../../sdk/mqtt";
import type { Clock } from "../../sdk/ports";
import { nodeClock, nodeRandom, StdoutLog, TcpTransport } from "../../targets/node";
import { eventually } from "./eventually";

export const PASSWORD = "rig-secret-password";

export interface ClientRig {
  client: MqttClient;
  states: MqttClientState[];
  connects: boolean[];
  messages: PublishPacket[];
  lost: Error[];
  stops: (Error | undefined)[];
  logLines: string[];
  /** Wake-ups the client has scheduled and not yet had: none once it stopped means it never retries. */
  pendingTimers(): number;
  publish(topic: string, text: string, qos: 0 | 1): Promise<void>;
  subscribe(topic: string): Promise<number[]>;
  stop(): Promise<void>;
}

export function clientRig(port: number, options: Partial<MqttClientOptions> = {}): ClientRig {
  // nodeClock, with the timers it has pending counted.
  const pending = new Set<unknown>();
  const clock: Clock = {
    now: () => nodeClock.now(),
    setTimer(delayMs, callback) {
      const handle = nodeClock.setTimer(delayMs, () => {
        pending.delete(handle);
        callback();
      });
      pending.add(handle);
      return handle;
    },
    clearTimer(handle) {
      pending.delete(handle);
      nodeClock.clearTimer(handle);
    },
  };
  const rig: Omit<ClientRig, "client" | "publish" | "subscribe" | "stop"> = {
    pendingTimers: () => pending.size,
    states: [],
    connects: [],
    messages: [],
    lost: [],
    stops: [],
    logLines: [],
  };
  const client = new MqttClient({
    transport: new TcpTransport({ host: "127.0.0.1", port }),
    clock,
    random: nodeRandom,
    log: new StdoutLog({ level: "debug", write: (line) => rig.logLines.push(line) }),
    clientId: `rig-${Math.random().toString(36).slice(2, 10)}`,
    username: "rig",
    password: new TextEncoder().encode(PASSWORD),
    keepalive: 30,
    reconnect: { initialDelayMs: 50, maxDelayMs: 200 },
    onStateChange: (state) => rig.states.push(state),
    onConnect: (sessionPresent) => rig.connects.push(sessionPresent),
    onMessage: (_topic, _payload, packet) => rig.messages.push(packet),
    onConnectionLost: (error) => rig.lost.push(error),
    onStop: (error) => rig.stops.push(error),
    ...options,
  });
  return {
    ...rig,
    client,
    publish: (topic, text, qos) =>
      new Promise((resolve, reject) =>
        client.publish(topic, new TextEncoder().encode(text), { qos }, (e) => (e ? reject(e) : resolve())),
      ),
    subscribe: (topic) =>
      new Promise((resolve, reject) =>
        client.subscribe([{ topic, qos: 1 }], (e, granted) => (e ? reject(e) : resolve(granted!))),
      ),
    stop: async () => {
      client.stop();
      // Let the DISCONNECT and the close reach the broker before it is shut down.
      await new Promise((resolve) => setTimeout(resolve, 20));
    },
  };
}

export const texts = (rig: ClientRig) =>
  rig.messages.map((m) => `${m.topic} ${new TextDecoder().decode(m.payload)} q${m.qos}`);

/** Connect, subscribe, publish QoS 0 and 1 and receive both back; stop cleanly; no secret logged. */
export async function checkRoundTrip(port: number): Promise<void> {
  const rig = clientRig(port);
  rig.client.start();
  await eventually(() => rig.client.state === "connected", "connected");
  expect(await rig.subscribe("rig/echo/#")).toEqual([1]);
  await rig.publish("rig/echo/zero", "hello 0", 0);
  await rig.publish("rig/echo/one", "hello 1", 1);
  await eventually(() => rig.messages.length === 2, "both messages back");
  expect(texts(rig).sort()).toEqual(["rig/echo/one hello 1 q1", "rig/echo/zero hello 0 q0"]);
  await rig.stop();
  expect(rig.states).toEqual(["connecting", "connected", "stopped"]);
  expect(rig.stops).toEqual([undefined]);
  expect(rig.lost).toEqual([]);
  expect(rig.logLines.length).toBeGreaterThan(0);
  expect(rig.logLines.join("")).not.toContain(PASSWORD);
}

/** The broker goes away and comes back: the client reconnects by itself and works again. */
export async function checkReconnectAfterRestart(port: number, restart: () => Promise<void>): Promise<void> {
  let subscribed = 0;
  const rig = clientRig(port, {
    onConnect: (sessionPresent) => {
      rig.connects.push(sessionPresent);
      rig.client.subscribe([{ topic: "rig/again", qos: 1 }], (error) => error || subscribed++);
    },
  });
  rig.client.start();
  await eventually(() => subscribed === 1, "first connect and subscription");
  await restart();
  await eventually(() => subscribed === 2, "reconnected and subscribed again after the restart", { timeoutMs: 10_000 });
  expect(rig.lost.length).toBeGreaterThanOrEqual(1);
  expect(rig.states).toContain("waiting");
  await rig.publish("rig/again", "back", 1);
  await eventually(() => rig.messages.length === 1, "a message through the new broker");
  expect(texts(rig)).toEqual(["rig/again back q1"]);
  await rig.stop();
}

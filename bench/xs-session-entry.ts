/**
 * Runs inside xsnap for bench/xs-session.ts, bundled into the global `xsSession`: an MqttClient on
 * the scripted transport and virtual clock of testkit/device, answered packet by packet, so each
 * call is one measured crank. The host reads the meter figures of each call.
 */
import { MqttClient } from "../sdk/mqtt/index";
import { serverBytes } from "../testkit/device/mqtt-wire";
import { ScriptedTransport } from "../testkit/device/scripted-transport";
import { SeededRandom } from "../testkit/device/seeded-random";
import { VirtualClock } from "../testkit/device/virtual-clock";

import { collectGarbage, jsonBuffer } from "../simulator/xs-engine/inside";

/** Kept between calls so the retained heap after the session includes a live, connected client. */
let live: MqttClient | undefined;

/** Collects garbage and does nothing else: the baseline crank. */
export function idle(): void {
  collectGarbage();
}

/** Connect, subscribe, then `publishes` QoS 1 publishes each answered by its PUBACK. */
export function session(publishes: number): ArrayBuffer {
  const transport = new ScriptedTransport();
  const clock = new VirtualClock();
  const payload = new Uint8Array(64).fill(0x2a);
  let subscribed = false;
  let acked = 0;
  const errors: string[] = [];
  const client = new MqttClient({
    transport,
    clock,
    random: new SeededRandom(),
    clientId: "bench-device",
    onConnect() {
      client.subscribe([{ topic: "devices/bench-device/commands/#", qos: 1 }], (error) => {
        if (error) errors.push(error.message);
        else subscribed = true;
      });
    },
  });
  client.start();
  const link = transport.last;
  link.open();
  // Each step answers the one packet the client has just written.
  const answer = () => {
    for (const packet of link.take()) {
      if (packet.cmd === "connect") link.deliver(serverBytes({ cmd: "connack", sessionPresent: false, returnCode: 0 }));
      else if (packet.cmd === "subscribe")
        link.deliver(serverBytes({ cmd: "suback", messageId: packet.messageId, granted: [1] }));
      else if (packet.cmd === "publish") link.deliver(serverBytes({ cmd: "puback", messageId: packet.messageId! }));
    }
  };
  answer();
  answer();
  for (let i = 0; i < publishes; i++) {
    client.publish("devices/bench-device/telemetry", payload, { qos: 1 }, (error) => {
      if (error) errors.push(error.message);
      else acked++;
    });
    answer();
  }
  // The scripted transport records every write; forget them so the retained heap is the client's.
  link.written.length = 0;
  live = client;
  return jsonBuffer({ state: client.state, subscribed, acked, errors });
}

/** Collects garbage with the session's client still alive: its retained heap. */
export function retained(): ArrayBuffer {
  collectGarbage();
  return jsonBuffer({ state: live?.state });
}

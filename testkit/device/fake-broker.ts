/**
 * A small in-memory MQTT 3.1.1 broker behind the Transport port, for scenarios of the layers above
 * the client (provisioning, registered session). It answers CONNECT, SUBSCRIBE, PINGREQ and QoS 1
 * PUBLISH by itself, records what clients publish, and lets the test publish to the client.
 * Every event to the client goes through the virtual clock (delay 0), never re-entrantly, so the
 * test drives it with `clock.advance(...)`.
 */
import type { ClientPacket, ServerPacket } from "../../sdk/mqtt/packets";
import type { Clock, LinkFailure, Transport, TransportConnection, TransportEvents } from "../../sdk/ports";
import { utf8Decode } from "../../sdk/utf8";
import { parseClientPackets, serverBytes } from "./mqtt-wire";

export interface ConnectInfo {
  clientId: string;
  username?: string;
  password?: string;
  clean: boolean;
  keepalive: number;
}

export interface ReceivedPublish {
  connection: FakeBrokerConnection;
  topic: string;
  payload: Uint8Array;
  qos: number;
  dup: boolean;
  messageId: number | undefined;
}

export class FakeBrokerConnection implements TransportConnection {
  connect: ConnectInfo | undefined;
  readonly subscriptions: string[] = [];
  open = true;
  #broker: FakeBroker;
  #events: TransportEvents;
  #nextId = 1;

  constructor(broker: FakeBroker, events: TransportEvents) {
    this.#broker = broker;
    this.#events = events;
    this.#later(() => events.onOpen());
  }

  #later(action: () => void): void {
    this.#broker.clock.setTimer(0, () => {
      if (this.open) action();
    });
  }

  #send(packet: ServerPacket): void {
    const bytes = serverBytes(packet);
    this.#later(() => this.#events.onData(bytes));
  }

  /** Publishes to this client (QoS 1 by default), whether or not it subscribed. */
  deliver(topic: string, payload: Uint8Array, qos: 0 | 1 = 1): void {
    const messageId = qos ? this.#nextId++ : undefined;
    this.#send({ cmd: "publish", topic, payload, qos, dup: false, retain: false, messageId });
  }

  /** The server side ends the link. */
  drop(): void {
    if (!this.open) return;
    this.#broker.clock.setTimer(0, () => this.#closed("closed", "dropped by the broker"));
    this.open = false;
  }

  /** The client writes whole packets, one or more a call. */
  write(bytes: Uint8Array): void {
    if (!this.open) return;
    for (const packet of parseClientPackets(bytes)) if (this.open) this.#handle(packet);
  }

  close(): void {
    if (!this.open) return;
    this.open = false;
    this.#broker.clock.setTimer(0, () => this.#closed("closed", "closed by the client"));
  }

  #closed(reason: LinkFailure, message: string): void {
    this.#events.onClose(reason, message);
  }

  #handle(packet: ClientPacket): void {
    switch (packet.cmd) {
      case "connect": {
        const password = packet.password && utf8Decode(packet.password);
        const info: ConnectInfo = {
          clientId: packet.clientId,
          username: packet.username,
          password,
          clean: packet.clean,
          keepalive: packet.keepalive,
        };
        this.connect = info;
        this.#broker.connects.push(info);
        const returnCode = this.#broker.connackCode;
        this.#send({ cmd: "connack", sessionPresent: false, returnCode });
        if (returnCode !== 0) this.#later(() => this.drop());
        break;
      }
      case "publish": {
        const publish = {
          connection: this,
          topic: packet.topic,
          payload: packet.payload,
          qos: packet.qos,
          dup: packet.dup,
          messageId: packet.messageId,
        };
        this.#broker.received.push(publish);
        if (packet.qos && !this.#broker.holdPubacks) this.puback(packet.messageId!);
        this.#broker.onPublish?.(publish);
        break;
      }
      case "subscribe": {
        const granted = packet.subscriptions.map(({ topic, qos }) => {
          const allowed = this.#broker.allowSubscribe(topic, this);
          if (allowed) this.subscriptions.push(topic);
          return allowed ? Math.min(qos, 1) : 0x80;
        });
        this.#send({ cmd: "suback", messageId: packet.messageId, granted });
        break;
      }
      case "pingreq":
        this.#send({ cmd: "pingresp" });
        break;
      case "disconnect":
        this.close();
        break;
      // PUBACK from the client, UNSUBSCRIBE: nothing the scenarios need.
    }
  }

  /** Acknowledges a QoS 1 publish of the client (when the broker holds PUBACKs). */
  puback(id: number): void {
    this.#send({ cmd: "puback", messageId: id });
  }
}

export class FakeBroker implements Transport {
  readonly clock: Clock;
  /** CONNACK return code for the next CONNECTs; anything but 0 closes the link after it. */
  connackCode = 0;
  /** When true, QoS 1 publishes of clients wait for `connection.puback(id)`. */
  holdPubacks = false;
  readonly connections: FakeBrokerConnection[] = [];
  readonly connects: ConnectInfo[] = [];
  readonly received: ReceivedPublish[] = [];
  /** Called for every client publish, after the PUBACK is queued. */
  onPublish: ((publish: ReceivedPublish) => void) | undefined;
  /** Decides SUBACK granted/0x80; allows everything by default. */
  allowSubscribe: (topic: string, connection: FakeBrokerConnection) => boolean = () => true;

  constructor(clock: Clock) {
    this.clock = clock;
  }

  connect(events: TransportEvents): TransportConnection {
    const connection = new FakeBrokerConnection(this, events);
    this.connections.push(connection);
    return connection;
  }

  /** The newest connection, open or not. */
  get current(): FakeBrokerConnection | undefined {
    return this.connections[this.connections.length - 1];
  }
}

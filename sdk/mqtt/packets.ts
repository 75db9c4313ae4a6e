/**
 * MQTT 3.1.1 packet objects. Field names follow mqtt-packet, so a packet compares one to one with
 * what mqtt-packet parses or generates. Payloads and passwords are bytes (`Uint8Array`), never
 * strings: XS counts string length in code points, and payloads are binary.
 */

export type QoS = 0 | 1 | 2;

export interface Will {
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  retain: boolean;
}

export interface ConnectPacket {
  cmd: "connect";
  protocolId?: "MQTT";
  protocolVersion?: 4;
  clientId: string;
  clean: boolean;
  keepalive: number;
  username?: string;
  password?: Uint8Array;
  will?: Will;
}

export interface ConnackPacket {
  cmd: "connack";
  sessionPresent: boolean;
  returnCode: number;
}

export interface PublishPacket {
  cmd: "publish";
  topic: string;
  payload: Uint8Array;
  qos: QoS;
  dup: boolean;
  retain: boolean;
  /** Present when qos > 0. */
  messageId?: number;
}

export interface PubackPacket {
  cmd: "puback";
  messageId: number;
}

export interface Subscription {
  topic: string;
  qos: QoS;
}

export interface SubscribePacket {
  cmd: "subscribe";
  messageId: number;
  subscriptions: Subscription[];
}

export interface SubackPacket {
  cmd: "suback";
  messageId: number;
  /** Granted QoS per subscription, or 0x80 for a refused one. */
  granted: number[];
}

export interface UnsubscribePacket {
  cmd: "unsubscribe";
  messageId: number;
  unsubscriptions: string[];
}

export interface UnsubackPacket {
  cmd: "unsuback";
  messageId: number;
}

export interface PingreqPacket {
  cmd: "pingreq";
}

export interface PingrespPacket {
  cmd: "pingresp";
}

export interface DisconnectPacket {
  cmd: "disconnect";
}

/** What a client sends. */
export type ClientPacket =
  ConnectPacket | PublishPacket | PubackPacket | SubscribePacket | UnsubscribePacket | PingreqPacket | DisconnectPacket;

/** What a server sends. */
export type ServerPacket =
  ConnackPacket | PublishPacket | PubackPacket | SubackPacket | UnsubackPacket | PingrespPacket;

/**
 * What the device's two sessions share of docs/protocol.md: the version its requests carry, and
 * how a Device ID or a stream name is written in a topic (version 2: every '.' as '~', which no
 * name holds, so that a broker turning '/' into '.' and back, as RabbitMQ's MQTT plugin does,
 * carries it whole).
 */
export const protocolVersion = 2;

export function topicLevel(name: string): string {
  return name.split(".").join("~");
}

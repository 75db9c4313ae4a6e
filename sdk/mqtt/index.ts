export * from "./packets";
export * from "./errors";
export { encode } from "./encode";
export { PacketDecoder, type PacketDecoderOptions } from "./decoder";
export {
  MqttClient,
  MqttClientError,
  type MqttClientErrorCode,
  type MqttClientOptions,
  type MqttClientState,
} from "./client";

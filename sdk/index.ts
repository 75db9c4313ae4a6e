/** The public API of the device SDK: the Moddable module "provisio-sdk" (dist/moddable/provisio-sdk.js). */
export * from "./ports";
export * from "./ticks";
export * from "./backoff";
export * from "./mqtt/index";
export * from "./storage/index";
export { utf8Encode, utf8Decode } from "./utf8";
export { DeviceClient, DeviceClientError, type DeviceClientOptions, type DeviceClientState } from "./device-client";
export type { OperationDisplay } from "./provisioning/provisioner";
export { SendError, type SendErrorCode } from "./outbox";

/**
 * The core as the Moddable module "provisio-sdk": the SDK's public API plus what a firmware app
 * needs that sdk/index.ts does not export (yet). scripts/build-moddable.ts bundles it with tweetnacl.
 */
export * from "../../sdk/index";
export { DeviceClient, DeviceClientError, type DeviceClientOptions, type DeviceClientState } from "../../sdk/device-client";
export type { OperationDisplay } from "../../sdk/provisioning/provisioner";
export { utf8Encode } from "../../sdk/utf8";
export * from "../../sdk/storage/index";

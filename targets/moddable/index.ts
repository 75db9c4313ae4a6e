/** The Moddable module "provisio-moddable": the SDK's ports on Moddable's modules. */
export { moddableClock } from "./clock";
export { guarded } from "./guard";
export { TraceLog } from "./log";
export { hardwareRandom } from "./random";
export { createModdableStore, ModdableFlash, type ModdableStoreOptions } from "./store";
export { ModdableTransport, type ModdableTransportOptions } from "./transport";

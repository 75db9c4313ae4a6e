/**
 * The Moddable module "provisio-moddable": the SDK's ports that are the same on every Moddable
 * platform (socket and securesocket, timer and time, trace). Storage and randomness differ between
 * the board and the simulator: they are "provisio-platform" (esp32.ts, simulator.ts).
 */
export { moddableClock } from "./clock";
export { guarded } from "./guard";
export { TraceLog } from "./log";
export { ModdableTransport, type ModdableTransportOptions } from "./transport";

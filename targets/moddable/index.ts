/**
 * The Moddable module "provisio-moddable": the SDK's ports that are the same on every Moddable
 * platform (socket and securesocket, timer and time, trace, the host's randomness). Storage
 * differs between the board and the simulator: it is "provisio-platform" (esp32.ts, simulator.ts).
 */
export { moddableClock } from "./clock";
export { hostRandom } from "./entropy";
export { guarded } from "./guard";
export { TraceLog } from "./log";
export { SocketLifetime } from "./socket-lifetime";
export { ModdableTransport, type ModdableTransportOptions } from "./transport";

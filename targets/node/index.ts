/** The desktop (Node) adapters for the ports of sdk/ports.ts. */
export { nodeClock } from "./clock";
export { FileRecordStore } from "./file-store";
export { NorFlashFile, PowerCutError, type NorFlashFileOptions } from "./nor-flash-file";
export { StdoutLog, type StdoutLogOptions } from "./log";
export { nodeRandom } from "./random";
export { TcpTransport, connectionFailure, type TcpTransportOptions, type TlsClientOptions } from "./transport";

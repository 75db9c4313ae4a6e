/**
 * The events of the "debug" level: what a developer following one exchange needs, nothing an
 * operator acts on. The device's build takes targets/moddable/debug-log.ts instead, which writes
 * nothing, and esbuild drops each call with its fields (scripts/build-moddable.ts): about 300
 * bytes of bytecode; `PROVISIO_DEBUG_LOG=1 npm run build` keeps them.
 */
import type { Log, LogFields } from "./ports";

export function debugLog(log: Log, event: string, fields: LogFields): void {
  log.write("debug", event, fields);
}

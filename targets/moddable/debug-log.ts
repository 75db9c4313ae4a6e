/**
 * sdk/debug-log.ts in the device's build: the debug events are not written, and esbuild removes
 * the calls to this empty function (scripts/build-moddable.ts).
 */
import type { Log, LogFields } from "provisio-sdk";

export function debugLog(_log: Log, _event: string, _fields: LogFields): void {}

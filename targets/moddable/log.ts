/**
 * The Log port on `trace`: one line per event, `level event key=value ...`. The core never puts a
 * secret in `fields`, and the app must not either.
 */
import type { Log, LogFields, LogLevel } from "provisio-sdk";

export class TraceLog implements Log {
  private readonly _minimum: number;

  /** `level` is the least severe level printed. */
  constructor(options: { level?: LogLevel } = {}) {
    this._minimum = levels.indexOf(options.level ?? "info");
  }

  write(level: LogLevel, event: string, fields?: LogFields): void {
    if (levels.indexOf(level) < this._minimum) return;
    let line = `${level} ${event}`;
    // An indexed loop: XS compiles for-in into an iterator, about 200 bytes more.
    if (fields) {
      const keys = Object.keys(fields);
      for (let i = 0; i < keys.length; i++) if (fields[keys[i]] !== undefined) line += ` ${keys[i]}=${fields[keys[i]]}`;
    }
    try {
      trace(line + "\n");
    } catch {
      // The Log port must not throw.
    }
  }
}

const levels: readonly LogLevel[] = Object.freeze(["debug", "info", "warn", "error"] as const);

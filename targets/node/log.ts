/** The Log port on Node: one JSON line per event on stdout. */
import type { Log, LogFields, LogLevel } from "../../sdk/ports";

const levels: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** Field names that could hold a credential: redacted even if a caller passes one by mistake. */
const secretName = /pass|token|secret|key|auth/i;

export interface StdoutLogOptions {
  /** Events below this level are dropped; default "info". */
  level?: LogLevel;
  /** Where each line goes; default process.stdout. */
  write?: (line: string) => void;
}

export class StdoutLog implements Log {
  readonly #minimum: number;
  readonly #output: (line: string) => void;

  constructor(options: StdoutLogOptions = {}) {
    this.#minimum = levels[options.level ?? "info"];
    this.#output = options.write ?? ((line) => void process.stdout.write(line));
  }

  write(level: LogLevel, event: string, fields: LogFields = {}): void {
    if (levels[level] < this.#minimum) return;
    const line: LogFields = { time: new Date().toISOString(), level, event };
    for (const [name, value] of Object.entries(fields)) line[name] = secretName.test(name) ? "[redacted]" : value;
    try {
      this.#output(JSON.stringify(line) + "\n");
    } catch {
      // A log must never throw into the core (a closed stdout, say).
    }
  }
}

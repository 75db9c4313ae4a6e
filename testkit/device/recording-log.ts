/** A Log that keeps every event, so a test can look for one or check that no secret leaked. */
import type { Log, LogFields, LogLevel } from "../../sdk/ports";

export interface LogEntry {
  level: LogLevel;
  event: string;
  fields: LogFields;
}

export class RecordingLog implements Log {
  readonly entries: LogEntry[] = [];

  write(level: LogLevel, event: string, fields: LogFields = {}): void {
    this.entries.push({ level, event, fields });
  }

  events(event: string): LogEntry[] {
    return this.entries.filter((e) => e.event === event);
  }

  /** Every event and field value as one string, to search for a secret. */
  text(): string {
    return this.entries.map((e) => `${e.event} ${JSON.stringify(e.fields)}`).join("\n");
  }
}

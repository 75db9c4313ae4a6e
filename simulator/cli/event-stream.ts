/**
 * A client of the platform's event stream (GET /api/events, server-sent events), over http or
 * https with the admin key, as `provisio ops watch` and the tests follow it. The parser keeps at
 * most one event's worth of bytes (1 MiB): a stream that sends more without an event's end fails.
 */
import type { IncomingMessage } from "node:http";
import { apiRequest } from "./api-request";

export interface StreamEvent {
  type: string;
  data: string;
  id?: string;
}

export interface EventStream {
  /** Resolves once the stream is open (200), rejects with the API's refusal or the socket's error. */
  opened: Promise<void>;
  /** Resolves when the stream ends: undefined when closed by `close()`, else why. */
  ended: Promise<Error | undefined>;
  close(): void;
}

const MAX_PENDING_BYTES = 1024 * 1024;

/** Parses text/event-stream bytes into events (the WHATWG rules this API needs: event, data, id, comments). */
export class EventStreamParser {
  #pending = "";
  #type = "";
  #data: string[] = [];
  #id: string | undefined;

  /** Feeds a chunk; returns the events it completed. Throws when an unfinished event outgrows the bound. */
  push(chunk: string): StreamEvent[] {
    this.#pending += chunk;
    const events: StreamEvent[] = [];
    let end: number;
    while ((end = this.#pending.search(/\r\n|\r|\n/)) >= 0) {
      // A CR last may be the first half of a CRLF that the next chunk completes.
      if (end === this.#pending.length - 1 && this.#pending.endsWith("\r")) break;
      const line = this.#pending.slice(0, end);
      const newline = this.#pending.startsWith("\r\n", end) ? 2 : 1;
      this.#pending = this.#pending.slice(end + newline);
      if (line === "") {
        if (this.#data.length > 0)
          events.push({ type: this.#type || "message", data: this.#data.join("\n"), id: this.#id });
        this.#type = "";
        this.#data = [];
        continue;
      }
      if (line.startsWith(":")) continue;
      const colon = line.indexOf(":");
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
      if (field === "event") this.#type = value;
      else if (field === "data") this.#data.push(value);
      else if (field === "id") this.#id = value;
    }
    if (this.#pending.length + this.#data.reduce((n, d) => n + d.length, 0) > MAX_PENDING_BYTES)
      throw new Error(`an event stream sent more than ${MAX_PENDING_BYTES} bytes without ending an event`);
    return events;
  }
}

export function followEvents(
  url: string,
  options: { adminKey: string; ca?: string | Buffer },
  onEvent: (event: StreamEvent) => void,
): EventStream {
  let closing = false;
  let end: (error: Error | undefined) => void = () => {};
  const ended = new Promise<Error | undefined>((resolve) => (end = resolve));
  const req = apiRequest(url, { method: "GET", ...options }, { accept: "text/event-stream" });
  const opened = new Promise<void>((resolve, reject) => {
    req.on("error", (error) => {
      reject(error);
      end(closing ? undefined : error);
    });
    req.on("response", (res: IncomingMessage) => {
      if (res.statusCode !== 200) {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          const refusal = Object.assign(new Error(`the event stream was refused (${res.statusCode})`), {
            status: res.statusCode,
            body: Buffer.concat(chunks).toString("utf8"),
          });
          reject(refusal);
          end(refusal);
        });
        return;
      }
      resolve();
      const parser = new EventStreamParser();
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => {
        try {
          for (const event of parser.push(chunk)) onEvent(event);
        } catch (error) {
          end(error as Error);
          req.destroy();
        }
      });
      res.on("close", () => end(closing ? undefined : new Error("the platform closed the event stream")));
    });
  });
  req.end();
  return {
    opened,
    ended,
    close() {
      closing = true;
      req.destroy();
    },
  };
}

/**
 * The technician commands' client for the platform's HTTP API, over http or https. The admin key
 * comes from PROVISIO_ADMIN_KEY or from DATA/admin.key (`--data`, default .provisio/ under the
 * cwd); the CA that signed an https platform's certificate from `--ca FILE` or PROVISIO_CA.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ADMIN_KEY_FILE } from "../platform/data-files";
import { sendApiRequest, type ApiResponse } from "./api-request";
import { followEvents, type EventStream, type StreamEvent } from "./event-stream";
import { CliError, EXIT, integerOption, stringOption, type ExitCode, type OptionSpec, type ParsedArgs } from "./args";

export const DEFAULT_PLATFORM_URL = "http://127.0.0.1:8080";
export const DEFAULT_DATA_DIR = ".provisio";

/** The options every command that talks to the API accepts. */
export const API_OPTIONS: OptionSpec = {
  platform: "string",
  data: "string",
  ca: "string",
  json: "boolean",
  help: "boolean",
};

export const API_OPTIONS_HELP = `  --platform URL   platform HTTP API, http:// or https:// (default ${DEFAULT_PLATFORM_URL})
  --ca FILE        CA certificate (PEM) that signed an https platform's certificate; or set PROVISIO_CA
  --data DIR       data directory holding admin.key (default ${DEFAULT_DATA_DIR}); or set PROVISIO_ADMIN_KEY
  --json           print JSON instead of a table
  --help           show this help`;

/** The options of a list: one page of the API's, and where it starts. */
export const PAGE_OPTIONS: OptionSpec = { limit: "string", after: "string" };

export const PAGE_OPTIONS_HELP = `  --limit N        at most N per page (1-1000, default 100)
  --after CURSOR   the page after CURSOR (the list prints the next one's)`;

/** The query of one page, with `extra` parameters. */
export function pageQuery(args: ParsedArgs, extra: Record<string, string | undefined> = {}): string {
  const query = new URLSearchParams();
  for (const [key, value] of Object.entries(extra)) if (value !== undefined) query.set(key, value);
  const limit = integerOption(args, "limit", 1, 1000);
  const after = stringOption(args, "after");
  if (limit !== undefined) query.set("limit", String(limit));
  if (after !== undefined) query.set("after", after);
  const text = query.toString();
  return text ? `?${text}` : "";
}

/** After a table, how to get the next page; nothing on the last one. */
export function nextPageHint(next: string | null, command: string): string {
  return next === null ? "" : `\nmore: ${command} --after ${next}`;
}

/** Certificate checks that failed, by Node's error code: what the technician can do about each. */
const UNTRUSTED =
  "the platform's certificate is not trusted: pass --ca FILE (or set PROVISIO_CA) with the CA that signed it";
const CERTIFICATE_REFUSALS: Record<string, string> = {
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: UNTRUSTED,
  UNABLE_TO_GET_ISSUER_CERT: UNTRUSTED,
  UNABLE_TO_GET_ISSUER_CERT_LOCALLY: UNTRUSTED,
  SELF_SIGNED_CERT_IN_CHAIN: UNTRUSTED,
  DEPTH_ZERO_SELF_SIGNED_CERT: UNTRUSTED,
  CERT_SIGNATURE_FAILURE: UNTRUSTED,
  CERT_HAS_EXPIRED: "the platform's certificate has expired",
  CERT_NOT_YET_VALID: "the platform's certificate is not valid yet (check the clocks)",
};

/** The one-line reason a request never got an answer. */
function unreachable(baseUrl: string, error: NodeJS.ErrnoException): CliError {
  const code = error.code ?? error.message;
  const refusal = CERTIFICATE_REFUSALS[code];
  if (refusal) return new CliError(`${refusal} (${code})`, EXIT.unreachable);
  const { hostname, protocol } = new URL(baseUrl);
  if (code === "ERR_TLS_CERT_ALTNAME_INVALID")
    return new CliError(
      `the platform's certificate does not name ${hostname} (host name does not match): use a name it holds in --platform`,
      EXIT.unreachable,
    );
  // A TLS listener drops a plain HTTP request without an answer; a plain one answers TLS with junk.
  const hint =
    protocol === "http:" && code === "ECONNRESET"
      ? "; if it serves https, use an https:// URL"
      : protocol === "https:" && code === "EPROTO"
        ? "; if it serves plain http, use an http:// URL"
        : "";
  return new CliError(`cannot reach the platform at ${baseUrl} (${code})${hint}`, EXIT.unreachable);
}

export class ApiClient {
  readonly #baseUrl: string;
  readonly #adminKey: string;
  readonly #ca: Buffer | undefined;

  private constructor(baseUrl: string, adminKey: string, ca: Buffer | undefined) {
    this.#baseUrl = baseUrl;
    this.#adminKey = adminKey;
    this.#ca = ca;
  }

  static fromArgs(args: ParsedArgs): ApiClient {
    const baseUrl = (stringOption(args, "platform") ?? DEFAULT_PLATFORM_URL).replace(/\/+$/, "");
    if (!/^https?:\/\/[^/]/.test(baseUrl))
      throw new CliError(`--platform must be an http:// or https:// URL, not ${JSON.stringify(baseUrl)}`);
    let adminKey = process.env.PROVISIO_ADMIN_KEY;
    if (!adminKey) {
      const path = join(stringOption(args, "data") ?? DEFAULT_DATA_DIR, ADMIN_KEY_FILE);
      try {
        adminKey = readFileSync(path, "utf8").trim();
      } catch {
        throw new CliError(`no admin key: cannot read ${path} (use --data DIR or set PROVISIO_ADMIN_KEY)`);
      }
    }
    const caFile = stringOption(args, "ca") ?? (process.env.PROVISIO_CA || undefined);
    let ca: Buffer | undefined;
    try {
      ca = caFile === undefined ? undefined : readFileSync(caFile);
    } catch (error) {
      throw new CliError(`--ca: cannot read ${caFile}: ${(error as Error).message}`);
    }
    return new ApiClient(baseUrl, adminKey, ca);
  }

  async request(method: "GET" | "POST" | "DELETE", path: string, body?: unknown): Promise<any> {
    let response: ApiResponse;
    try {
      response = await sendApiRequest(this.#baseUrl + path, { method, adminKey: this.#adminKey, body, ca: this.#ca });
    } catch (error) {
      throw unreachable(this.#baseUrl, error as NodeJS.ErrnoException);
    }
    let result: any;
    try {
      result = JSON.parse(response.text);
    } catch {
      throw new CliError(`the platform answered ${response.status} with something that is not JSON`);
    }
    if (response.status < 200 || response.status > 299)
      throw new CliError(
        `${result.error ?? response.status}: ${result.message ?? "request failed"}`,
        exitFor(response.status),
      );
    return result;
  }

  /** Follows the platform's event stream (GET /api/events) until `close()`. */
  follow(onEvent: (event: StreamEvent) => void): EventStream {
    return followEvents(`${this.#baseUrl}/api/events`, { adminKey: this.#adminKey, ca: this.#ca }, onEvent);
  }

  /** The CLI's error for a stream that could not open or that ended. */
  streamError(error: Error & { status?: number; body?: string; code?: string }): CliError {
    if (error.status === undefined) return unreachable(this.#baseUrl, error);
    let body: { error?: string; message?: string } = {};
    try {
      body = JSON.parse(error.body ?? "{}") as typeof body;
    } catch {
      // the status says enough
    }
    return new CliError(`${body.error ?? error.status}: ${body.message ?? error.message}`, exitFor(error.status));
  }
}

/** The exit code of an API refusal. */
function exitFor(status: number): ExitCode {
  if (status === 401 || status === 403) return EXIT.unauthorized;
  if (status === 404) return EXIT.notFound;
  return status >= 400 && status < 500 ? EXIT.refused : EXIT.failed;
}

/**
 * The technician commands' client for the platform's HTTP API. The admin key comes from
 * PROVISIO_ADMIN_KEY or from DATA/admin.key (`--data`, default .provisio/ under the cwd).
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ADMIN_KEY_FILE } from "../platform/platform";
import { CliError, stringOption, type OptionSpec, type ParsedArgs } from "./args";

export const DEFAULT_PLATFORM_URL = "http://127.0.0.1:8080";
export const DEFAULT_DATA_DIR = ".provisio";

/** The options every command that talks to the API accepts. */
export const API_OPTIONS: OptionSpec = { platform: "string", data: "string", json: "boolean", help: "boolean" };

export const API_OPTIONS_HELP = `  --platform URL   platform HTTP API (default ${DEFAULT_PLATFORM_URL})
  --data DIR       data directory holding admin.key (default ${DEFAULT_DATA_DIR}); or set PROVISIO_ADMIN_KEY
  --json           print JSON instead of a table
  --help           show this help`;

export class ApiClient {
  private constructor(
    private readonly baseUrl: string,
    private readonly adminKey: string,
  ) {}

  static fromArgs(args: ParsedArgs): ApiClient {
    const baseUrl = (stringOption(args, "platform") ?? DEFAULT_PLATFORM_URL).replace(/\/+$/, "");
    let adminKey = process.env.PROVISIO_ADMIN_KEY;
    if (!adminKey) {
      const path = join(stringOption(args, "data") ?? DEFAULT_DATA_DIR, ADMIN_KEY_FILE);
      try {
        adminKey = readFileSync(path, "utf8").trim();
      } catch {
        throw new CliError(`no admin key: cannot read ${path} (use --data DIR or set PROVISIO_ADMIN_KEY)`);
      }
    }
    return new ApiClient(baseUrl, adminKey);
  }

  async request(method: "GET" | "POST" | "DELETE", path: string, body?: unknown): Promise<any> {
    let response: Response;
    try {
      response = await fetch(this.baseUrl + path, {
        method,
        headers: { authorization: `Bearer ${this.adminKey}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code ?? (error as Error).message;
      throw new CliError(`cannot reach the platform at ${this.baseUrl} (${cause})`);
    }
    const text = await response.text();
    let result: any;
    try {
      result = JSON.parse(text);
    } catch {
      throw new CliError(`the platform answered ${response.status} with something that is not JSON`);
    }
    if (!response.ok) throw new CliError(`${result.error ?? response.status}: ${result.message ?? "request failed"}`);
    return result;
  }
}

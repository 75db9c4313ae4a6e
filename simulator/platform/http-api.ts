/**
 * The technician's HTTP JSON API (node:http, or node:https when given TLS settings), protected by
 * the admin key (`Authorization: Bearer KEY`). Every error is JSON `{ status, error, message }`
 * with a stable code.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type RequestListener, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { TlsOptions } from "node:tls";
import { PlatformError, errorBody } from "./errors";
import type { Broker } from "./broker";
import type { Operations } from "./operations";
import { pageQuery } from "./paging";
import type { ProvisioningTokens } from "./provisioning-tokens";
import type { Registry } from "./registry";
import { listMessages } from "./messages";
import { DEFAULT_WORKSPACE_ID, type Db } from "./store";

const MAX_BODY_BYTES = 16 * 1024;

export interface HttpApiOptions {
  adminKey: string;
  tokens: ProvisioningTokens;
  operations: Operations;
  registry: Registry;
  /** Read for the messages list. */
  db: Db;
  /** Ends the sessions a revocation or deletion cuts off. */
  sessions: Pick<Broker, "closeDevice" | "closeProvisioningToken">;
  log: (line: string) => void;
  /** Serve HTTPS only, with these settings; without them, plain HTTP. */
  tls?: TlsOptions;
}

type Handler = (params: string[], body: Record<string, unknown>, query: URLSearchParams) => unknown;

interface Route {
  method: "GET" | "POST" | "DELETE";
  pattern: RegExp;
  handler: Handler;
}

function optional<T>(body: Record<string, unknown>, field: string, type: "string" | "number"): T | undefined {
  const value = body[field];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== type) throw new PlatformError(400, "invalid-request", `${field} must be a ${type}`);
  return value as T;
}

function routes({ tokens, operations, registry, sessions, db }: HttpApiOptions): Route[] {
  /** Devices are named by ID within a workspace: `?workspace=` (default the default workspace). */
  const device = (params: string[], query: URLSearchParams) =>
    [query.get("workspace") ?? DEFAULT_WORKSPACE_ID, params[0]] as const;
  const states = new Set(["pending", "approved", "rejected", "expired", "consumed"]);
  return [
    {
      method: "GET",
      pattern: /^\/api\/tokens$/,
      handler: (_p, _b, query) => {
        const { items, next } = tokens.list(pageQuery(query));
        return { tokens: items, next };
      },
    },
    {
      method: "POST",
      pattern: /^\/api\/tokens$/,
      handler: (_p, body) => {
        const { token, info } = tokens.create({
          name: optional(body, "name", "string"),
          deviceId: optional(body, "deviceId", "string"),
          registrationLifetimeS: optional(body, "registrationLifetime", "number"),
          expiresInS: optional(body, "expiresIn", "number"),
          maxUses: optional(body, "maxUses", "number"),
        });
        return { token, ...info };
      },
    },
    {
      method: "POST",
      pattern: /^\/api\/tokens\/([^/]+)\/revoke$/,
      handler: ([id]) => {
        const revoked = tokens.revoke(id);
        sessions.closeProvisioningToken(id);
        return revoked;
      },
    },
    {
      method: "GET",
      pattern: /^\/api\/operations$/,
      handler: (_p, _b, query) => {
        const state = query.get("state") ?? undefined;
        if (state !== undefined && !states.has(state)) {
          throw new PlatformError(400, "invalid-request", `state must be one of ${[...states].join(", ")}`);
        }
        const { items, next } = operations.list(pageQuery(query), state);
        return { operations: items, next };
      },
    },
    {
      method: "POST",
      pattern: /^\/api\/operations\/([^/]+)\/approve$/,
      handler: ([id], body) => operations.approve(id, body.deviceId ?? undefined),
    },
    { method: "POST", pattern: /^\/api\/operations\/([^/]+)\/reject$/, handler: ([id]) => operations.reject(id) },
    {
      method: "GET",
      pattern: /^\/api\/devices$/,
      handler: (_p, _b, query) => {
        const { items, next } = registry.listDevices(pageQuery(query));
        return { devices: items, next };
      },
    },
    {
      method: "POST",
      pattern: /^\/api\/devices\/([^/]+)\/revoke$/,
      handler: (params, _b, query) => {
        const [workspaceId, deviceId] = device(params, query);
        const revoked = registry.revokeDevice(workspaceId, deviceId);
        sessions.closeDevice(workspaceId, deviceId);
        return revoked;
      },
    },
    {
      method: "DELETE",
      pattern: /^\/api\/devices\/([^/]+)$/,
      handler: (params, _b, query) => {
        const [workspaceId, deviceId] = device(params, query);
        const deleted = registry.deleteDevice(workspaceId, deviceId);
        sessions.closeDevice(workspaceId, deviceId);
        return deleted;
      },
    },
    {
      method: "GET",
      pattern: /^\/api\/messages$/,
      handler: (_p, _b, query) => {
        const { items, next } = listMessages(db, {
          ...pageQuery(query),
          deviceId: query.get("device") ?? undefined,
          stream: query.get("stream") ?? undefined,
        });
        return { messages: items, next };
      },
    },
  ];
}

function sameKey(given: string, expected: string): boolean {
  const digest = (text: string) => createHash("sha256").update(text, "utf8").digest();
  return timingSafeEqual(digest(given), digest(expected));
}

function decodePathParameter(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    throw new PlatformError(400, "invalid-request", "malformed percent-encoding in the path");
  }
}

function readBody(req: IncomingMessage): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        reject(new PlatformError(413, "body-too-large", `request body larger than ${MAX_BODY_BYTES} bytes`));
        // Read the rest into nothing so the client gets the 413 instead of a reset.
        req.removeAllListeners("data");
        req.resume();
        return;
      }
      chunks.push(chunk);
    });
    req.on("error", reject);
    req.on("end", () => {
      const text = Buffer.concat(chunks).toString("utf8");
      if (text.trim() === "") return resolve({});
      try {
        const body: unknown = JSON.parse(text);
        if (typeof body !== "object" || body === null || Array.isArray(body)) throw new Error("not an object");
        resolve(body as Record<string, unknown>);
      } catch {
        reject(new PlatformError(400, "invalid-json", "request body is not a JSON object"));
      }
    });
  });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

export function createHttpApi(options: HttpApiOptions): Server | HttpsServer {
  const table = routes(options);
  const listener: RequestListener = (req, res) => {
    const url = new URL(req.url ?? "/", "http://localhost");
    const serve = async (): Promise<unknown> => {
      const auth = req.headers.authorization ?? "";
      if (!auth.startsWith("Bearer ") || !sameKey(auth.slice(7), options.adminKey)) {
        throw new PlatformError(401, "unauthorized", "missing or wrong admin key (Authorization: Bearer KEY)");
      }
      const matching = table.filter((route) => route.pattern.test(url.pathname));
      if (matching.length === 0) throw new PlatformError(404, "not-found", `no route ${url.pathname}`);
      const route = matching.find((r) => r.method === req.method);
      if (!route) throw new PlatformError(405, "method-not-allowed", `${req.method} not allowed on ${url.pathname}`);
      const body = req.method === "POST" ? await readBody(req) : {};
      const params = route.pattern.exec(url.pathname)!.slice(1).map(decodePathParameter);
      return route.handler(params, body, url.searchParams);
    };
    serve().then(
      (result) => send(res, 200, result),
      (error: unknown) => {
        if (!(error instanceof PlatformError))
          options.log(`http ${req.method} ${url.pathname}: ${(error as Error).stack}`);
        const platformError =
          error instanceof PlatformError ? error : new PlatformError(500, "internal-error", "internal error");
        send(res, platformError.status, errorBody(platformError));
      },
    );
  };
  return options.tls ? createHttpsServer(options.tls, listener) : createServer(listener);
}

/**
 * The technician's HTTP JSON API on fastify (HTTPS when given TLS settings), and the console that
 * uses it in the browser. Protected by the admin key: `Authorization: Bearer KEY`, or the console's
 * session cookie (HttpOnly, SameSite=Strict, Secure over HTTPS) that signing in with the key gives;
 * a request that changes something with the cookie must carry the header `x-provisio-console`,
 * which another site's page cannot send (CSRF). Every route declares its parameters, query, body and
 * replies as JSON schemas: fastify validates requests with them, and @fastify/swagger makes the
 * OpenAPI 3 document of /api/openapi.json from the same schemas. Every error is JSON
 * `{ status, error, message }` with a stable code.
 */
import type { Server } from "node:http";
import type { Server as HttpsServer } from "node:https";
import type { TlsOptions } from "node:tls";
import cookie from "@fastify/cookie";
import swagger from "@fastify/swagger";
import Fastify, { type FastifyError, type FastifyInstance, type FastifyRequest } from "fastify";
import { PlatformError, errorBody } from "./errors";
import { sameSecret } from "./same-secret";
import type { Broker } from "./broker";
import { MAX_EVENT_LISTENERS, platformEventTypes, type PlatformEvent, type PlatformEvents } from "./events";
import { apiSchemas, errorReplies, pageQuerySchema, pageOf } from "./api-schemas";
import { consoleFiles } from "./console-files";
import { ConsoleSessions, SESSION_COOKIE, SESSION_LIFETIME_MS } from "./console-sessions";
import type { Operations } from "./operations";
import { pageQuery } from "./paging";
import type { ProvisioningTokens } from "./provisioning-tokens";
import type { Registry } from "./registry";
import { listMessages } from "./messages";
import { DEFAULT_WORKSPACE_ID, type Db } from "./store";
import type { AuthParams, AuthQuestion, BrokerAuth } from "./cluster/broker-auth";

const BROKER_AUTH_PREFIX = "/broker/auth/";

const MAX_BODY_BYTES = 16 * 1024;
const EVENT_KEEPALIVE_MS = 15_000;
const OPERATION_STATES = ["pending", "approved", "rejected", "expired", "consumed"];

export interface HttpApiOptions {
  adminKey: string;
  now: () => number;
  tokens: ProvisioningTokens;
  operations: Operations;
  registry: Registry;
  /** Read for the messages list. */
  db: Db;
  /** Ends the sessions a revocation or deletion cuts off. */
  sessions: Pick<Broker, "closeDevice" | "closeProvisioningToken" | "isConnected">;
  /** What /api/events streams; told of what the API itself does to tokens and devices. */
  events: PlatformEvents;
  log: (line: string) => void;
  /** Serve HTTPS only, with these settings; without them, plain HTTP. */
  tls?: TlsOptions;
  /**
   * A clustered broker's auth hook (cluster mode): `POST /broker/auth/SECRET/{user,vhost,resource,topic}`.
   * The broker sends no credential of its own, so the secret is in the path it is configured with.
   */
  brokerAuth?: { secret: string; auth: BrokerAuth };
}

/** The query as the paging and filters read it (every value a string: the schemas keep them so). */
const searchParams = (request: FastifyRequest) => new URLSearchParams(request.query as Record<string, string>);

/** A device is named by ID within a workspace: `?workspace=` (default the default workspace). */
const deviceOf = (request: FastifyRequest) =>
  [
    (request.query as { workspace?: string }).workspace ?? DEFAULT_WORKSPACE_ID,
    (request.params as { deviceId: string }).deviceId,
  ] as const;

/** The fastify errors a client causes, by the stable code the API answers with. */
function clientError(error: FastifyError): PlatformError | undefined {
  if (error.validation) return new PlatformError(400, "invalid-request", error.message);
  switch (error.code) {
    case "FST_ERR_CTP_BODY_TOO_LARGE":
      return new PlatformError(413, "body-too-large", `request body larger than ${MAX_BODY_BYTES} bytes`);
    case "FST_ERR_CTP_INVALID_MEDIA_TYPE":
      return new PlatformError(415, "unsupported-media-type", "a request body is JSON: Content-Type: application/json");
    case "FST_ERR_BAD_URL":
      return new PlatformError(400, "invalid-request", "malformed percent-encoding in the path");
  }
  return undefined;
}

function routes(app: FastifyInstance, { tokens, operations, registry, sessions, db, events }: HttpApiOptions): void {
  const { token, operation, device, message } = apiSchemas;
  const listedDevice = {
    ...device,
    properties: {
      ...device.properties,
      connected: { type: "boolean", description: "a registered session is open now" },
    },
    required: [...device.required, "connected"],
  };
  const idParam = (name: string) => ({
    type: "object",
    required: [name],
    properties: { [name]: { type: "string", minLength: 1, maxLength: 200 } },
  });
  const workspaceQuery = { type: "object", properties: { workspace: { type: "string", maxLength: 64 } } };

  app.get(
    "/api/tokens",
    {
      schema: {
        summary: "List provisioning tokens",
        tags: ["tokens"],
        querystring: pageQuerySchema(),
        response: { 200: pageOf("tokens", token), ...errorReplies },
      },
    },
    async (request) => {
      const { items, next } = await tokens.list(pageQuery(searchParams(request)));
      return { tokens: items, next };
    },
  );
  app.post(
    "/api/tokens",
    {
      schema: {
        summary: "Create a provisioning token (the token itself is in this reply only)",
        tags: ["tokens"],
        body: {
          type: ["object", "null"],
          properties: {
            name: { type: ["string", "null"], maxLength: 100 },
            deviceId: { type: ["string", "null"], description: "every device provisioned with it gets this Device ID" },
            registrationLifetime: { type: ["integer", "null"], description: "seconds a registration token lives" },
            expiresIn: { type: ["integer", "null"], description: "seconds this provisioning token lives" },
            maxUses: { type: ["integer", "null"], description: "provisionings it allows" },
          },
        },
        response: {
          200: {
            ...token,
            properties: { ...token.properties, token: { type: "string" } },
            required: ["token", ...token.required],
          },
          ...errorReplies,
        },
      },
    },
    async (request) => {
      const body = (request.body ?? {}) as Record<string, string | number | null | undefined>;
      const created = await tokens.create({
        name: (body.name as string | null) ?? undefined,
        deviceId: (body.deviceId as string | null) ?? undefined,
        registrationLifetimeS: (body.registrationLifetime as number | null) ?? undefined,
        expiresInS: (body.expiresIn as number | null) ?? undefined,
        maxUses: (body.maxUses as number | null) ?? undefined,
      });
      events.emit({ type: "token-created", token: created.info });
      return { token: created.token, ...created.info };
    },
  );
  app.post(
    "/api/tokens/:tokenId/revoke",
    {
      schema: {
        summary: "Revoke a provisioning token",
        tags: ["tokens"],
        params: idParam("tokenId"),
        response: { 200: token, ...errorReplies },
      },
    },
    async (request) => {
      const { tokenId } = request.params as { tokenId: string };
      const revoked = await tokens.revoke(tokenId);
      sessions.closeProvisioningToken(tokenId);
      events.emit({ type: "token-revoked", token: revoked });
      return revoked;
    },
  );
  app.get(
    "/api/operations",
    {
      schema: {
        summary: "List provisioning operations, newest first",
        tags: ["operations"],
        querystring: pageQuerySchema({ state: { type: "string", enum: OPERATION_STATES } }),
        response: { 200: pageOf("operations", operation), ...errorReplies },
      },
    },
    async (request) => {
      const { state } = request.query as { state?: string };
      const { items, next } = await operations.list(pageQuery(searchParams(request)), state);
      return { operations: items, next };
    },
  );
  app.post(
    "/api/operations/:operation/approve",
    {
      schema: {
        summary: "Approve an operation, by ID or verification code",
        tags: ["operations"],
        params: idParam("operation"),
        body: { type: ["object", "null"], properties: { deviceId: { type: ["string", "null"] } } },
        response: { 200: operation, ...errorReplies },
      },
    },
    (request) => {
      const body = (request.body ?? {}) as { deviceId?: string | null };
      return operations.approve((request.params as { operation: string }).operation, body.deviceId ?? undefined);
    },
  );
  app.post(
    "/api/operations/:operation/reject",
    {
      schema: {
        summary: "Reject an operation, by ID or verification code",
        tags: ["operations"],
        params: idParam("operation"),
        body: {
          type: ["object", "null"],
          properties: { reason: { type: ["string", "null"], maxLength: 200, description: "kept with the operation" } },
        },
        response: { 200: operation, ...errorReplies },
      },
    },
    (request) =>
      operations.reject(
        (request.params as { operation: string }).operation,
        (request.body as { reason?: string | null } | undefined)?.reason ?? undefined,
      ),
  );
  app.get(
    "/api/devices",
    {
      schema: {
        summary: "List registered devices",
        tags: ["devices"],
        querystring: pageQuerySchema(),
        response: { 200: pageOf("devices", listedDevice), ...errorReplies },
      },
    },
    async (request) => {
      const { items, next } = await registry.listDevices(pageQuery(searchParams(request)));
      const devices = items.map((d) => ({ ...d, connected: sessions.isConnected(d.workspaceId, d.deviceId) }));
      return { devices, next };
    },
  );
  app.post(
    "/api/devices/:deviceId/revoke",
    {
      schema: {
        summary: "Revoke a device's registration and close its session",
        tags: ["devices"],
        params: idParam("deviceId"),
        querystring: workspaceQuery,
        response: { 200: device, ...errorReplies },
      },
    },
    async (request) => {
      const [workspaceId, deviceId] = deviceOf(request);
      const revoked = await registry.revokeDevice(workspaceId, deviceId);
      sessions.closeDevice(workspaceId, deviceId);
      events.emit({ type: "device-revoked", device: revoked });
      return revoked;
    },
  );
  app.delete(
    "/api/devices/:deviceId",
    {
      schema: {
        summary: "Delete a device and close its session",
        tags: ["devices"],
        params: idParam("deviceId"),
        querystring: workspaceQuery,
        response: { 200: device, ...errorReplies },
      },
    },
    async (request) => {
      const [workspaceId, deviceId] = deviceOf(request);
      const deleted = await registry.deleteDevice(workspaceId, deviceId);
      sessions.closeDevice(workspaceId, deviceId);
      events.emit({ type: "device-deleted", device: deleted });
      return deleted;
    },
  );
  app.get(
    "/api/events",
    {
      schema: {
        summary: "Follow what happens, as server-sent events (text/event-stream)",
        description:
          `Each event is \`event: TYPE\` (${platformEventTypes.join(", ")}) and \`data:\` its JSON: ` +
          "{ id, type, at } and the operation, device or token as the lists show it. Live only: read the lists first.",
        tags: ["events"],
        response: { 200: { description: "an endless text/event-stream", type: "string" }, ...errorReplies },
      },
    },
    (request, reply) => {
      const send = (event: PlatformEvent) =>
        reply.raw.write(`id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
      const unsubscribe = events.subscribe(send);
      if (!unsubscribe)
        throw new PlatformError(503, "too-many-listeners", `at most ${MAX_EVENT_LISTENERS} event streams at once`, 10);
      reply.hijack();
      reply.raw.writeHead(200, {
        "content-type": "text/event-stream; charset=utf-8",
        "cache-control": "no-store",
        connection: "keep-alive",
      });
      // A comment line now and then keeps proxies from closing an idle stream, and finds dead peers.
      reply.raw.write(": provisio events\n\n");
      const keepAlive = setInterval(() => reply.raw.write(": keep-alive\n\n"), EVENT_KEEPALIVE_MS);
      request.raw.once("close", () => {
        clearInterval(keepAlive);
        unsubscribe();
      });
    },
  );
  app.get(
    "/api/messages",
    {
      schema: {
        summary: "List stored messages, newest first",
        tags: ["messages"],
        querystring: pageQuerySchema({ device: { type: "string" }, stream: { type: "string" } }),
        response: { 200: pageOf("messages", message), ...errorReplies },
      },
    },
    async (request) => {
      const query = searchParams(request);
      const { items, next } = await listMessages(db, {
        ...pageQuery(query),
        deviceId: query.get("device") ?? undefined,
        stream: query.get("stream") ?? undefined,
      });
      return { messages: items, next };
    },
  );
}

/** The broker's four questions, with their form bodies (a parser of this scope only). */
function brokerAuthRoutes({ secret, auth }: NonNullable<HttpApiOptions["brokerAuth"]>) {
  return async (scope: FastifyInstance) => {
    scope.addContentTypeParser("application/x-www-form-urlencoded", { parseAs: "string" }, (_request, text, done) =>
      done(null, Object.fromEntries(new URLSearchParams(text as string))),
    );
    scope.post(
      `${BROKER_AUTH_PREFIX}:secret/:question`,
      {
        schema: {
          hide: true,
          params: {
            type: "object",
            properties: { secret: { type: "string" }, question: { enum: ["user", "vhost", "resource", "topic"] } },
          },
        },
      },
      async (request, reply) => {
        const params = request.params as { secret: string; question: AuthQuestion };
        if (!sameSecret(params.secret, secret)) throw new PlatformError(403, "forbidden", "not the broker");
        void reply.type("text/plain");
        return auth.answer(params.question, (request.body ?? {}) as AuthParams);
      },
    );
  };
}

/** Signing in and out of the console, and its three files. */
function consoleRoutes(app: FastifyInstance, sessions: ConsoleSessions, options: HttpApiOptions): void {
  const cookieOptions = { path: "/", httpOnly: true, sameSite: "strict", secure: options.tls !== undefined } as const;
  const session = { tags: ["console"], hide: true };
  app.post(
    "/api/session",
    {
      schema: {
        ...session,
        body: { type: "object", required: ["adminKey"], properties: { adminKey: { type: "string", maxLength: 200 } } },
      },
    },
    async (request, reply) => {
      if (request.headers["x-provisio-console"] === undefined)
        throw new PlatformError(403, "csrf", "signing in carries x-provisio-console");
      if (!sameSecret((request.body as { adminKey: string }).adminKey, options.adminKey)) {
        // Slows a guesser down without holding anything else up.
        await new Promise((resolve) => setTimeout(resolve, 500));
        throw new PlatformError(401, "unauthorized", "that is not the admin key");
      }
      void reply.setCookie(SESSION_COOKIE, sessions.create(), { ...cookieOptions, maxAge: SESSION_LIFETIME_MS / 1000 });
      return { signedIn: true };
    },
  );
  app.get("/api/session", { schema: session }, (request) => ({
    signedIn: sessions.valid(request.cookies[SESSION_COOKIE]),
  }));
  app.delete("/api/session", { schema: session }, (request, reply) => {
    sessions.end(request.cookies[SESSION_COOKIE]);
    void reply.clearCookie(SESSION_COOKIE, cookieOptions);
    return { signedIn: false };
  });
  for (const path of consoleFiles.paths)
    app.get(path, { schema: { hide: true } }, (_request, reply) => {
      const file = consoleFiles.get(path);
      void reply
        .type(file.type)
        .header("cache-control", "no-cache")
        .header("content-security-policy", "default-src 'self'; frame-ancestors 'none'")
        .header("x-content-type-options", "nosniff");
      return reply.send(file.body);
    });
}

/** Every route's method and path pattern, so that a known path with another method answers 405. */
function routeTable(app: FastifyInstance): { method: string; pattern: RegExp }[] {
  const table: { method: string; pattern: RegExp }[] = [];
  app.addHook("onRoute", (route) => {
    const pattern = new RegExp(`^${route.url.replace(/:[^/]+/g, "[^/]+")}$`);
    for (const method of [route.method].flat()) table.push({ method, pattern });
  });
  return table;
}

export async function createHttpApi(options: HttpApiOptions): Promise<Server | HttpsServer> {
  const app = Fastify({
    bodyLimit: MAX_BODY_BYTES,
    ...(options.tls ? { https: options.tls } : {}),
    // Strings stay strings (the paging reads them), and a wrong type is an error, not a guess.
    ajv: { customOptions: { coerceTypes: false, removeAdditional: false } },
  }) as unknown as FastifyInstance;
  // Replies are serialized as they are: the reply schemas document, they do not filter.
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));
  // A body is a JSON object, or nothing (an empty body with the JSON type too); nothing else.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("application/json", { parseAs: "string" }, (_request, text, done) => {
    if ((text as string).trim() === "") return done(null, undefined);
    try {
      const body: unknown = JSON.parse(text as string);
      if (typeof body === "object" && body !== null && !Array.isArray(body)) return done(null, body);
    } catch {
      // answered below
    }
    done(new PlatformError(400, "invalid-json", "request body is not a JSON object"), undefined);
  });
  await app.register(swagger, {
    openapi: {
      openapi: "3.0.3",
      info: { title: "Provisio platform API", version: "1" },
      components: { securitySchemes: { adminKey: { type: "http", scheme: "bearer" } } },
      security: [{ adminKey: [] }],
    },
  });
  await app.register(cookie);
  const sessions = new ConsoleSessions(options.now);
  const open = new Set(["/api/openapi.json", "/api/session", ...consoleFiles.paths]);
  app.addHook("onRequest", async (request) => {
    const path = request.url.split("?")[0];
    if (open.has(path) || (options.brokerAuth && path.startsWith(BROKER_AUTH_PREFIX))) return;
    const auth = request.headers.authorization;
    if (auth !== undefined) {
      if (!auth.startsWith("Bearer ") || !sameSecret(auth.slice(7), options.adminKey))
        throw new PlatformError(401, "unauthorized", "missing or wrong admin key (Authorization: Bearer KEY)");
      return;
    }
    if (!sessions.valid(request.cookies[SESSION_COOKIE]))
      throw new PlatformError(401, "unauthorized", "missing or wrong admin key (Authorization: Bearer KEY)");
    if (request.method !== "GET" && request.headers["x-provisio-console"] === undefined)
      throw new PlatformError(403, "csrf", "a console request that changes something carries x-provisio-console");
  });
  consoleRoutes(app, sessions, options);
  if (options.brokerAuth) await app.register(brokerAuthRoutes(options.brokerAuth));
  const table = routeTable(app);
  app.get("/api/openapi.json", { schema: { hide: true } }, () => app.swagger());
  routes(app, options);
  app.setNotFoundHandler((request) => {
    const path = new URL(request.url, "http://localhost").pathname;
    if (table.some((route) => route.pattern.test(path)))
      throw new PlatformError(405, "method-not-allowed", `${request.method} not allowed on ${path}`);
    throw new PlatformError(404, "not-found", `no route ${path}`);
  });
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const known = error instanceof PlatformError ? error : clientError(error);
    if (!known) options.log(`http ${request.method} ${request.url}: ${error.stack}`);
    const platformError = known ?? new PlatformError(500, "internal-error", "internal error");
    void reply.status(platformError.status).send(errorBody(platformError));
  });
  await app.ready();
  return app.server;
}

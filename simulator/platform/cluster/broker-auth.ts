/**
 * The answers a clustered broker gets when it asks the platform who may connect and what each
 * client may do: RabbitMQ's HTTP auth backend (rabbitmq_auth_backend_http) asks four questions,
 * `user`, `vhost`, `resource` and `topic`, each a form POST answered with `allow` or `deny` (EMQX,
 * VerneMQ and Mosquitto's auth plugins ask the same questions in their own words: README). The
 * access rules themselves are topic-access.ts, the same ones the embedded broker enforces.
 *
 * RabbitMQ's MQTT plugin hands over topics as AMQP routing keys: '/' becomes '.', '+' becomes '*'
 * ('#' stays), and every '.' becomes '/' again on the way to a subscriber. Topics write Device IDs
 * and streams in their topic form (topic-access.ts: '.' as '~'), so the mapping back is exact; v1's
 * topics, which wrote a '.' as it is, cannot be carried, and are refused for what they read as.
 */
import { randomBytes } from "node:crypto";
import type { LogLine } from "../broker";
import type { Operations } from "../operations";
import { PROVISIONING_CLIENT_ID_PATTERN } from "../protocol";
import { tokenRefusal, type ProvisioningTokens } from "../provisioning-tokens";
import { sameSecret } from "../same-secret";
import type { Registry } from "../registry";
import type { Db } from "../store";
import { mayPublish, maySubscribe, type Session } from "../topic-access";
import { sharedSecret } from "../postgres-store";

/** The broker user the platform's workers log in as (AMQP and the management API). */
export const WORKER_USER = "provisio-worker";
/** The one virtual host the platform uses. */
const VHOST = "/";
/** The exchange RabbitMQ's MQTT plugin publishes to and subscribes on. */
export const MQTT_EXCHANGE = "amq.topic";

/**
 * The secrets between the workers and the broker: the workers' broker password, and the path
 * secret of the auth hook's URL (the broker's HTTP backend sends no credential of its own). Made
 * once, in the shared database; `provisio cluster up` reads them to configure the nodes.
 */
export async function brokerSecrets(db: Db): Promise<{ workerPassword: string; authPathSecret: string }> {
  const make = () => randomBytes(24).toString("base64url");
  return {
    workerPassword: await sharedSecret(db, "broker-worker-password", make),
    authPathSecret: await sharedSecret(db, "broker-auth-path", make),
  };
}

export type AuthQuestion = "user" | "vhost" | "resource" | "topic";
export type AuthParams = Record<string, string | undefined>;

/** MQTT topic from a routing key (the inverse of the plugin's mapping). */
export function topicOf(routingKey: string): string {
  return routingKey.replace(/\*/g, "+").replace(/\./g, "/");
}

/** The routing key a topic is published under. */
export function routingKeyOf(topic: string): string {
  return topic.replace(/\//g, ".");
}

/** The session a logged-in MQTT client is, from its username and client ID (ids only: what the topic rules read). */
export function sessionOf(username: string, clientId: string): Session | undefined {
  if (username === "provisioning")
    return PROVISIONING_CLIENT_ID_PATTERN.test(clientId)
      ? { kind: "provisioning", clientId, provisioningTokenId: "", address: "" }
      : undefined;
  const colon = username.indexOf(":");
  if (colon < 0 || username !== clientId) return undefined;
  return {
    kind: "registered",
    workspaceId: username.slice(0, colon),
    deviceId: username.slice(colon + 1),
    tokenId: "",
  };
}

export interface BrokerAuthOptions {
  db: Db;
  tokens: ProvisioningTokens;
  registry: Registry;
  operations: Operations;
  now: () => number;
  log: LogLine;
  /** The workers' password (WORKER_USER). */
  workerPassword: string;
}

export class BrokerAuth {
  readonly #options: BrokerAuthOptions;

  constructor(options: BrokerAuthOptions) {
    this.#options = options;
  }

  /** `allow` (with tags for the user question) or `deny`. */
  async answer(question: AuthQuestion, params: AuthParams): Promise<string> {
    const username = params.username ?? "";
    if (username === WORKER_USER) return this.#worker(question, params);
    const clientId = params.client_id ?? params["variable_map.client_id"] ?? "";
    const session = sessionOf(username, clientId);
    if (!session) return "deny";
    switch (question) {
      case "user":
        return (await this.#login(session, params.password ?? "")) ? "allow" : "deny";
      case "vhost":
        if (params.vhost !== VHOST) return "deny";
        await this.#options.db.run(
          "UPDATE broker_sessions SET address = ? WHERE client_id = ?",
          params.ip ?? "",
          clientId,
        );
        return "allow";
      case "resource":
        return this.#resource(clientId, params) ? "allow" : "deny";
      case "topic": {
        if (params.vhost !== VHOST || params.name !== MQTT_EXCHANGE) return "deny";
        const topic = topicOf(params.routing_key ?? "");
        const allowed =
          params.permission === "read"
            ? maySubscribe(session, topic, false)
            : !("refused" in mayPublish(session, topic, false));
        if (!allowed) this.#options.log(`broker: ${params.permission} refused: client ${clientId} topic ${topic}`);
        return allowed ? "allow" : "deny";
      }
    }
  }

  #worker(question: AuthQuestion, params: AuthParams): string {
    if (question !== "user") return "allow";
    return sameSecret(params.password ?? "", this.#options.workerPassword) ? "allow administrator" : "deny";
  }

  /** An MQTT client's own subscription queues, and the MQTT exchange. */
  #resource(clientId: string, params: AuthParams): boolean {
    if (params.vhost !== VHOST) return false;
    if (params.resource === "exchange") return params.name === MQTT_EXCHANGE && params.permission !== "configure";
    return (
      params.resource === "queue" &&
      (params.name === `mqtt-subscription-${clientId}qos1` || params.name === `mqtt-subscription-${clientId}qos0`)
    );
  }

  /** Checks the credential, and records who the client ID is for its requests; false to refuse. */
  async #login(session: Session, password: string): Promise<boolean> {
    const { db, tokens, registry, operations, now, log } = this.#options;
    const clientId = session.kind === "provisioning" ? session.clientId : `${session.workspaceId}:${session.deviceId}`;
    let refusal: string | undefined;
    let provisioningTokenId: string | null = null;
    let tokenId: string | null = null;
    if (session.kind === "provisioning") {
      const token = await tokens.byToken(password);
      const tokenState = token && tokenRefusal(token, now());
      const mayFetch =
        token && tokenState && tokenState !== "revoked" && (await operations.hasUnfetchedApproval(clientId, token.id));
      if (!token) refusal = "unknown provisioning token";
      else if (tokenState && !mayFetch) refusal = `provisioning token ${tokenState}`;
      provisioningTokenId = token?.id ?? null;
    } else {
      const registered = await registry.authenticate(clientId, clientId, password);
      if (typeof registered === "number") refusal = "bad or expired registration token";
      else {
        tokenId = registered.tokenId;
        await registry.connected(registered);
      }
    }
    // Answered at once, even to a client that keeps failing: RabbitMQ asks over a few kept-alive
    // HTTP connections, and a refusal held back would hold other clients' logins behind it.
    if (refusal) {
      log(`broker: login refused: client ${clientId}: ${refusal}`);
      return false;
    }
    await db.run(
      `INSERT INTO broker_sessions (client_id, provisioning_token_id, token_id, address, logged_in_at)
       VALUES (?, ?, ?, '', ?)
       ON CONFLICT (client_id) DO UPDATE SET provisioning_token_id = excluded.provisioning_token_id,
         token_id = excluded.token_id, logged_in_at = excluded.logged_in_at`,
      clientId,
      provisioningTokenId,
      tokenId,
      now(),
    );
    return true;
  }

  /** The session a client ID logged in as, as its requests are served; undefined when it never did. */
  async session(clientId: string, username: string): Promise<Session | undefined> {
    const ids = sessionOf(username, clientId);
    if (!ids) return undefined;
    const row = await this.#options.db.get<{
      provisioning_token_id: string | null;
      token_id: string | null;
      address: string | null;
    }>("SELECT provisioning_token_id, token_id, address FROM broker_sessions WHERE client_id = ?", clientId);
    if (!row) return undefined;
    if (ids.kind === "provisioning")
      return row.provisioning_token_id === null
        ? undefined
        : { ...ids, provisioningTokenId: row.provisioning_token_id, address: row.address ?? "" };
    return row.token_id === null ? undefined : { ...ids, tokenId: row.token_id };
  }
}

/**
 * The answers a clustered broker gets when it asks the platform who may connect and what each
 * client may do: RabbitMQ's HTTP auth backend (rabbitmq_auth_backend_http) asks four questions,
 * `user`, `vhost`, `resource` and `topic`, each a form POST answered with `allow` or `deny` (EMQX,
 * VerneMQ and Mosquitto's auth plugins ask the same questions in their own words: README). The
 * access rules themselves are topic-access.ts, the same ones the embedded broker enforces, and so
 * are the embedded broker's protections, as far as the questions let them be kept:
 * - a device's rate: a v2 message's topic names its id, so the broker asks about every message
 *   (it remembers a connection's last 12 topics), and the answer comes in the message's turn: the
 *   broker reads nothing more from that connection meanwhile, and the PUBACK waits, as on the
 *   embedded broker. What the question cannot see, a client repeating topics and the bytes (it
 *   carries no payload), the broker's statistics show (session-rates.ts);
 * - connections per address: the vhost question carries the client's address, counted against
 *   the connections the broker lists and the logins of the last seconds (its listing lags);
 * - refused logins slowed: a refusal past the limit is answered seconds later. The nodes must not
 *   queue their questions behind it (`provisio cluster up` sets their HTTP client so).
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
import { printable } from "../log-text";
import type { Db } from "../store";
import { mayPublish, maySubscribe, type Session } from "../topic-access";
import { sharedSecret } from "../postgres-store";
import { DeviceRate, type DeviceRateLimits } from "../device-rate";
import { SlowedRefusals } from "../rate-limit";
import type { BrokerConnection } from "./broker-admin";

/** How long a login may take to show in the broker's connection listing (its statistics interval and more). */
const LISTING_LAG_MS = 5000;

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
  /** How fast one device's messages are taken; defaults in DEFAULT_DEVICE_RATE. */
  deviceRate?: Partial<DeviceRateLimits>;
  /** Connections one address may hold. */
  connectionsPerAddress: number;
}

export class BrokerAuth {
  readonly #options: BrokerAuthOptions;
  readonly #rate: DeviceRate;
  readonly #refusals: SlowedRefusals;
  /** Connections per address, as the broker listed them last. */
  #listed = new Map<string, number>();
  /** When each address's logins were allowed, within LISTING_LAG_MS. */
  readonly #recentLogins = new Map<string, number[]>();

  constructor(options: BrokerAuthOptions) {
    this.#options = options;
    this.#rate = new DeviceRate(options.deviceRate, options.now);
    this.#refusals = new SlowedRefusals(options.now);
  }

  /** The broker's connections, as its listing shows them now (the worker reads it every second). */
  connectionsListed(connections: BrokerConnection[]): void {
    const listed = new Map<string, number>();
    for (const { peerHost } of connections) listed.set(peerHost, (listed.get(peerHost) ?? 0) + 1);
    this.#listed = listed;
  }

  /** `allow` (with tags for the user question) or `deny`. */
  async answer(question: AuthQuestion, params: AuthParams): Promise<string> {
    const username = params.username ?? "";
    if (username === WORKER_USER) return this.#worker(question, params);
    const clientId = params.client_id ?? params["variable_map.client_id"] ?? "";
    const session = sessionOf(username, clientId);
    if (!session) return "deny";
    switch (question) {
      case "user": {
        const refusal = await this.#login(session, params.password ?? "");
        if (refusal === undefined) return "allow";
        const keys = [
          `client:${clientId}`,
          ...(refusal.provisioningTokenId ? [`token:${refusal.provisioningTokenId}`] : []),
        ];
        await new Promise<void>((answer) => this.#refusals.refuse(keys, answer));
        return "deny";
      }
      case "vhost": {
        if (params.vhost !== VHOST) return "deny";
        const address = params.ip ?? "";
        if (!this.#admit(address)) {
          this.#options.log(
            `broker: login refused: client ${printable(clientId)}: ${printable(address)} holds ${this.#options.connectionsPerAddress} connections already`,
          );
          return "deny";
        }
        await this.#options.db.run("UPDATE broker_sessions SET address = ? WHERE client_id = ?", address, clientId);
        return "allow";
      }
      case "resource":
        return this.#resource(clientId, params) ? "allow" : "deny";
      case "topic": {
        if (params.vhost !== VHOST || params.name !== MQTT_EXCHANGE) return "deny";
        const topic = topicOf(params.routing_key ?? "");
        if (params.permission === "read") {
          const allowed = maySubscribe(session, topic, false);
          if (!allowed)
            this.#options.log(`broker: read refused: client ${printable(clientId)} topic ${printable(topic)}`);
          return allowed ? "allow" : "deny";
        }
        const publication = mayPublish(session, topic, false);
        if ("refused" in publication) {
          this.#options.log(`broker: write refused: client ${printable(clientId)} topic ${printable(topic)}`);
          return "deny";
        }
        // A message is let in at the device's rate: meanwhile the broker reads no more of its connection.
        if ("stream" in publication) {
          const delayMs = this.#rate.delayMs(clientId, 0);
          if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
        }
        return "allow";
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

  /** Whether one more connection from `address` stays within the bound; if so, it is counted. */
  #admit(address: string): boolean {
    const now = this.#options.now();
    const recent = (this.#recentLogins.get(address) ?? []).filter((at) => now - at < LISTING_LAG_MS);
    for (const [key, times] of this.#recentLogins)
      if (times.every((at) => now - at >= LISTING_LAG_MS)) this.#recentLogins.delete(key);
    // Listed connections include some of the recent logins: the larger of the two is the surest count.
    if (Math.max(this.#listed.get(address) ?? 0, recent.length) >= this.#options.connectionsPerAddress) return false;
    recent.push(now);
    this.#recentLogins.set(address, recent);
    return true;
  }

  /** Checks the credential, and records who the client ID is for its requests; why not when it is refused. */
  async #login(session: Session, password: string): Promise<{ provisioningTokenId?: string } | undefined> {
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
    if (refusal) {
      log(`broker: login refused: client ${printable(clientId)}: ${refusal}`);
      return { provisioningTokenId: provisioningTokenId ?? undefined };
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
    return undefined;
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

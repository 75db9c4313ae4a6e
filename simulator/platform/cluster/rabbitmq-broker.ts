/**
 * A platform worker's side of a RabbitMQ cluster that devices connect to over MQTT: the worker is
 * an AMQP client of the broker, like any number of others.
 *
 * - Control requests (`…/req/…`) are routed by the broker to the durable queue `provisio.requests`,
 *   which the workers consume in competition; each reply is published back (confirmed) before the
 *   request is acknowledged.
 * - Device messages (`…/msg/…`) go to the durable queue `provisio.device-messages`, which one worker
 *   at a time consumes (RabbitMQ's single active consumer; another takes over when it goes): so a
 *   device's messages are stored in the order it sent them, and a DUP resend is never stored before
 *   the message it repeats, as it was when the workers consumed in competition (the queue of that
 *   time, `provisio.messages`, is unbound and drained). The worker takes them in batches, stores
 *   each batch in one transaction, and acknowledges it only after the commit, so a worker that dies
 *   loses nothing: the broker hands what it held to the next. A batch's messages
 *   that name their id (v2) are also written to the delivery ledger in that transaction and taken
 *   out of it once the broker has certainly had the acknowledgement; a redelivered message still in
 *   the ledger (same device, id and bytes) was stored already, and is not stored again. One without
 *   an id cannot be told from another with the same bytes, so a redelivery of it is stored again
 *   rather than risk taking it for another's. Batches lock their devices (store.ts lockKeys): a
 *   worker taking over while its predecessor's last batch still commits takes turns with it.
 * - Both queues are mirrored on every node (a policy set through the management API), so a node's
 *   loss loses neither; the worker reconnects to the next broker URL when its connection drops.
 * - Sessions a revocation or an expiry ends are closed through the management API, on whichever
 *   node they are.
 */
import { connect, type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage } from "amqplib";
import { createHash, randomBytes } from "node:crypto";
import type { LogLine } from "../broker";
import type { ControlRequests } from "../control-requests";
import { insertRows, storeMessages } from "../message-batch";
import type { IncomingMessage } from "../message-writer";
import type { Reply } from "../operations";
import { MAX_MESSAGE_BYTES, type Registry } from "../registry";
import { printable } from "../log-text";
import type { Db } from "../store";
import { mayPublish, nameOfLevel } from "../topic-access";
import type { DeviceRateLimits } from "../device-rate";
import type { BrokerAdmin } from "./broker-admin";
import { MQTT_EXCHANGE, WORKER_USER, routingKeyOf, sessionOf, topicOf, type BrokerAuth } from "./broker-auth";
import { SessionRates } from "./session-rates";

export const QUEUE_PREFIX = "provisio.";
const REQUESTS = `${QUEUE_PREFIX}requests`;
const MESSAGES = `${QUEUE_PREFIX}device-messages`;
/** Where messages went before one worker at a time took them: what it still holds is stored, nothing new reaches it. */
const UNORDERED_MESSAGES = `${QUEUE_PREFIX}messages`;
const MESSAGE_ROUTE = "ws.*.dev.*.msg.#";
/** Requests a worker serves at once; messages it holds unacknowledged (about two batches). */
const REQUEST_PREFETCH = 64;
const MESSAGE_PREFETCH = 1000;
const MAX_BATCH = 500;
/** How long a batch waits for more messages once it has one. */
const BATCH_WAIT_MS = 5;
/** Ledger rows left behind by a worker that died after its acknowledgement went through are dropped after this. */
const LEDGER_RETENTION_MS = 10 * 60_000;
const SWEEP_INTERVAL_MS = 1000;
const RECONNECT_DELAY_MS = 500;
/** The management API lists an MQTT connection 3 to 4 s after it opened (its first statistics). */
const CLOSE_ATTEMPTS = 20;
const CLOSE_RETRY_MS = 500;

export interface RabbitBrokerOptions {
  /** amqp://HOST:PORT of each node, tried in turn (the worker's credentials are added). */
  urls: string[];
  workerPassword: string;
  admin: BrokerAdmin;
  auth: BrokerAuth;
  db: Db;
  registry: Registry;
  requests: ControlRequests;
  now: () => number;
  log: LogLine;
  quotaBytesPerDevice: number;
  /** How fast one device's messages are taken; defaults in DEFAULT_DEVICE_RATE. */
  deviceRate?: Partial<DeviceRateLimits>;
}

interface Pending {
  delivery: ConsumeMessage;
  message: IncomingMessage | undefined;
}

/**
 * Whose message a routing key carries, on which stream, and with v2's own id, read through the
 * access rules (the broker asked them before it took the message).
 */
function messageRoute(
  routingKey: string,
): { workspaceId: string; deviceId: string; stream: string; messageId?: number } | undefined {
  const topic = topicOf(routingKey);
  const [ws, workspaceId, dev, level] = topic.split("/");
  if (ws !== "ws" || dev !== "dev" || level === undefined) return undefined;
  const deviceId = nameOfLevel(level);
  const publication = mayPublish({ kind: "registered", workspaceId, deviceId, tokenId: "" }, topic, false);
  return "stream" in publication ? { workspaceId, deviceId, ...publication } : undefined;
}

const digestOf = (message: IncomingMessage, messageId: number) =>
  createHash("sha256")
    .update(`${message.workspaceId}\0${message.deviceId}\0${message.stream}\0${messageId}\0`)
    .update(message.payload)
    .digest();

export class RabbitBroker {
  readonly #options: RabbitBrokerOptions;
  #model: ChannelModel | undefined;
  #publisher: ConfirmChannel | undefined;
  #messages: Channel | undefined;
  #urlIndex = 0;
  #closing = false;
  #pending: Pending[] = [];
  #flushing = false;
  #flushTimer: NodeJS.Timeout | undefined;
  /** Client IDs of the cluster's MQTT connections, as last listed (for the devices list's `connected`). */
  #connected = new Set<string>();
  readonly #sweeper: NodeJS.Timeout;
  readonly #rates: SessionRates;

  private constructor(options: RabbitBrokerOptions) {
    this.#options = options;
    this.#rates = new SessionRates(options.deviceRate, options.now);
    this.#sweeper = setInterval(() => void this.#sweep(), SWEEP_INTERVAL_MS);
    this.#sweeper.unref();
  }

  static async start(options: RabbitBrokerOptions): Promise<RabbitBroker> {
    await options.admin.mirrorQueues(QUEUE_PREFIX);
    const broker = new RabbitBroker(options);
    await broker.#connect();
    return broker;
  }

  pushToProvisioningClient(clientId: string, reply: Reply): void {
    void this.#publish(`prov/${clientId}/res/complete`, { rid: null, ...reply }).catch((error: Error) =>
      this.#options.log(`push to ${clientId} failed: ${error.message}`),
    );
  }

  isConnected(workspaceId: string, deviceId: string): boolean {
    return this.#connected.has(`${workspaceId}:${deviceId}`);
  }

  closeDevice(workspaceId: string, deviceId: string): void {
    const username = `${workspaceId}:${deviceId}`;
    this.#options.admin.closeUser(username, "revoked").then(
      () => this.#options.log(`session closed: client ${username} (revoked or deleted)`),
      (error: Error) => this.#options.log(`closing ${username}'s session failed: ${error.message}`),
    );
  }

  closeProvisioningToken(provisioningTokenId: string): void {
    void this.#options.db
      .all<{ client_id: string }>(
        "SELECT client_id FROM broker_sessions WHERE provisioning_token_id = ?",
        provisioningTokenId,
      )
      .then((rows) => this.#closeProvisioningSessions(new Set(rows.map((r) => r.client_id)), "token revoked"));
  }

  async close(): Promise<void> {
    this.#closing = true;
    clearInterval(this.#sweeper);
    clearTimeout(this.#flushTimer);
    await this.#model?.close().catch(() => undefined);
  }

  /**
   * Closes the provisioning sessions of these client IDs. They share one username, so they are
   * found in the management API's listing, which shows a connection only with its first
   * statistics, seconds after it opened: those not listed yet are looked for again, for up to 10 s.
   * (A registered device has a username of its own, and is closed at once: closeDevice.) Meanwhile
   * such a session can get nothing: an approval checks the token.
   */
  async #closeProvisioningSessions(clientIds: Set<string>, reason: string): Promise<void> {
    try {
      for (let attempt = 0; attempt < CLOSE_ATTEMPTS && clientIds.size > 0; attempt++) {
        if (attempt > 0) await new Promise((resolve) => setTimeout(resolve, CLOSE_RETRY_MS));
        for (const connection of await this.#options.admin.mqttConnections()) {
          if (connection.user !== "provisioning" || !clientIds.delete(connection.clientId)) continue;
          this.#options.log(
            `session closed: client ${printable(connection.clientId)} on ${connection.node} (${reason})`,
          );
          await this.#options.admin.close(connection.name, reason);
        }
      }
    } catch (error) {
      this.#options.log(`closing sessions failed: ${(error as Error).message}`);
    }
  }

  /** Connects to the next node that answers, and sets up the queues, bindings and consumers. */
  async #connect(): Promise<void> {
    const { urls, workerPassword, log } = this.#options;
    for (let attempt = 0; ; attempt++) {
      const url = new URL(urls[this.#urlIndex % urls.length]);
      this.#urlIndex++;
      url.username = WORKER_USER;
      url.password = workerPassword;
      try {
        const model = await connect(url.toString(), { timeout: 5000 });
        await this.#setUp(model);
        model.on("error", () => undefined);
        model.on("close", () => this.#lost(model));
        this.#model = model;
        log(`broker: connected to ${url.host}`);
        return;
      } catch (error) {
        if (this.#closing) return;
        if (attempt >= urls.length * 20) throw error;
        log(`broker: ${url.host} unreachable (${(error as Error).message}), trying the next node`);
        await new Promise((resolve) => setTimeout(resolve, RECONNECT_DELAY_MS));
      }
    }
  }

  #lost(model: ChannelModel): void {
    if (this.#closing || this.#model !== model) return;
    this.#model = this.#publisher = this.#messages = undefined;
    // What was consumed and not acknowledged goes back to the queue: forget it here.
    this.#pending = [];
    this.#options.log("broker: connection lost, reconnecting");
    void this.#connect().catch((error: Error) => this.#options.log(`broker: cannot reconnect: ${error.message}`));
  }

  async #setUp(model: ChannelModel): Promise<void> {
    const publisher = await model.createConfirmChannel();
    publisher.on("error", () => undefined);
    await publisher.assertQueue(REQUESTS, { durable: true });
    await publisher.bindQueue(REQUESTS, MQTT_EXCHANGE, "prov.*.req.*");
    await publisher.bindQueue(REQUESTS, MQTT_EXCHANGE, "ws.*.dev.*.req.*");
    await publisher.assertQueue(MESSAGES, { durable: true, arguments: { "x-single-active-consumer": true } });
    // D/msg/{stream}, and v2's D/msg/{stream}/{id}.
    await publisher.bindQueue(MESSAGES, MQTT_EXCHANGE, MESSAGE_ROUTE);
    const unordered = await this.#unbindUnordered(model);
    this.#publisher = publisher;

    const requests = await model.createChannel();
    requests.on("error", () => undefined);
    await requests.prefetch(REQUEST_PREFETCH);
    await requests.consume(REQUESTS, (delivery) => delivery && void this.#request(requests, delivery));

    const messages = await model.createChannel();
    messages.on("error", () => undefined);
    await messages.prefetch(MESSAGE_PREFETCH);
    this.#messages = messages;
    await messages.consume(MESSAGES, (delivery) => delivery && this.#message(delivery));
    if (unordered) await messages.consume(UNORDERED_MESSAGES, (delivery) => delivery && this.#message(delivery));
  }

  /** Takes the queue of a cluster set up before this version off the route; true when there is one. */
  async #unbindUnordered(model: ChannelModel): Promise<boolean> {
    // A check for a queue that is not there closes the channel it was asked on: a channel of its own.
    const channel = await model.createChannel();
    channel.on("error", () => undefined);
    try {
      await channel.checkQueue(UNORDERED_MESSAGES);
    } catch {
      return false;
    }
    await channel.unbindQueue(UNORDERED_MESSAGES, MQTT_EXCHANGE, MESSAGE_ROUTE);
    await channel.close();
    return true;
  }

  /** Publishes to an MQTT topic, resolved once the broker has it (confirmed). */
  #publish(topic: string, body: Record<string, unknown>): Promise<void> {
    const publisher = this.#publisher;
    if (!publisher) return Promise.reject(new Error("not connected to the broker"));
    return new Promise((resolve, reject) =>
      publisher.publish(
        MQTT_EXCHANGE,
        routingKeyOf(topic),
        Buffer.from(JSON.stringify(body)),
        { persistent: false, headers: { "x-mqtt-publish-qos": 1 } },
        (error) => (error ? reject(new Error("the broker refused a reply")) : resolve()),
      ),
    );
  }

  async #request(channel: Channel, delivery: ConsumeMessage): Promise<void> {
    const topic = topicOf(delivery.fields.routingKey);
    const levels = topic.split("/");
    const clientId = levels[0] === "prov" ? levels[1] : `${levels[1]}:${nameOfLevel(levels[3] ?? "")}`;
    const username = levels[0] === "prov" ? "provisioning" : clientId;
    try {
      const session = sessionOf(username, clientId) && (await this.#options.auth.session(clientId, username));
      const publication = session && mayPublish(session, topic, false);
      if (!session || !publication || !("request" in publication))
        this.#options.log(
          `request dropped: no login known for client ${printable(clientId)} to publish on ${printable(topic)}`,
        );
      else {
        const request = { root: publication.root, kind: publication.request };
        const reply = await this.#options.requests.answer(session, request, delivery.content);
        await this.#publish(reply.topic, reply.body);
      }
      channel.ack(delivery);
    } catch (error) {
      // The database or the broker failed: the request goes back to the queue, for a moment later.
      this.#options.log(`request on ${topic} not served, requeued: ${(error as Error).message}`);
      setTimeout(() => channel.nack(delivery, false, true), RECONNECT_DELAY_MS).unref();
    }
  }

  #message(delivery: ConsumeMessage): void {
    const route = messageRoute(delivery.fields.routingKey);
    let message: IncomingMessage | undefined;
    if (!route)
      this.#options.log(`message dropped: routing key ${printable(delivery.fields.routingKey)} is no device stream`);
    else if (delivery.content.length > MAX_MESSAGE_BYTES)
      this.#options.log(`message dropped: ${delivery.content.length} bytes from ${route.deviceId}`);
    else {
      // The plugin passes the publisher's DUP flag on as a header (not its packet id: v2's topic names the message's id).
      const dup = delivery.properties.headers?.["x-mqtt-dup"] === true;
      message = { ...route, payload: delivery.content, receivedAt: this.#options.now() };
      if (route.messageId !== undefined) message.dup = dup;
    }
    this.#pending.push({ delivery, message });
    if (this.#pending.length >= MAX_BATCH) void this.#flush();
    else this.#flushTimer ??= setTimeout(() => void this.#flush(), BATCH_WAIT_MS);
  }

  /** Stores what is pending in one transaction, then acknowledges it all: one batch at a time. */
  async #flush(): Promise<void> {
    clearTimeout(this.#flushTimer);
    this.#flushTimer = undefined;
    const channel = this.#messages;
    if (this.#flushing || this.#pending.length === 0 || !channel) return;
    this.#flushing = true;
    const batch = this.#pending.splice(0, MAX_BATCH);
    const last = batch[batch.length - 1].delivery;
    const batchId = randomBytes(9).toString("base64url");
    try {
      const devices = batch.flatMap(({ message }) => (message ? [`${message.workspaceId}\0${message.deviceId}`] : []));
      await this.#options.db.transaction(
        async (tx) => {
          const fresh: IncomingMessage[] = [];
          const ledger: unknown[][] = [];
          for (const { delivery, message } of batch) {
            if (!message) continue;
            if (message.messageId === undefined) {
              fresh.push(message);
              continue;
            }
            const digest = digestOf(message, message.messageId);
            // A redelivery of a message a worker stored and acknowledged without the broker knowing.
            if (
              delivery.fields.redelivered &&
              (await tx.run(
                `DELETE FROM delivery_ledger WHERE id = (SELECT id FROM delivery_ledger
                 WHERE workspace_id = ? AND device_id = ? AND digest = ? ORDER BY id LIMIT 1)`,
                message.workspaceId,
                message.deviceId,
                digest,
              ))
            )
              continue;
            fresh.push(message);
            ledger.push([batchId, message.workspaceId, message.deviceId, digest, this.#options.now()]);
          }
          await insertRows(tx, "delivery_ledger (batch, workspace_id, device_id, digest, stored_at)", ledger);
          await storeMessages(tx, fresh, this.#options.quotaBytesPerDevice);
        },
        { lockKeys: devices },
      );
      channel.ack(last, true);
      // A method answered on the same channel after the ack: the broker has processed the ack.
      await channel.checkQueue(MESSAGES);
      await this.#options.db.run("DELETE FROM delivery_ledger WHERE batch = ?", batchId);
    } catch (error) {
      this.#options.log(`messages not stored, left to the broker to deliver again: ${(error as Error).message}`);
      if (this.#messages === channel) {
        await new Promise((resolve) => setTimeout(resolve, RECONNECT_DELAY_MS));
        try {
          channel.nack(last, true, true);
        } catch {
          // the channel closed: the broker requeues by itself
        }
      }
    } finally {
      this.#flushing = false;
      if (this.#pending.length > 0) void this.#flush();
    }
  }

  /**
   * Once a second: which clients are connected anywhere in the cluster, and closing the registered
   * sessions past their rate or whose token stopped being valid (expired, replaced and out of
   * grace, revoked).
   */
  async #sweep(): Promise<void> {
    const { admin, db, registry, now, log } = this.#options;
    try {
      const connections = await admin.mqttConnections();
      this.#connected = new Set(connections.map((c) => c.clientId));
      this.#options.auth.connectionsListed(connections);
      for (const connection of this.#rates.overRate(connections)) {
        log(`session closed: client ${printable(connection.clientId)} (over its rate)`);
        await admin.close(connection.name, "over its rate");
      }
      const registered = connections.filter((c) => c.user !== "provisioning");
      if (registered.length > 0) {
        const rows = await db.all<{ client_id: string; token_id: string }>(
          `SELECT client_id, token_id FROM broker_sessions WHERE client_id IN (${registered.map(() => "?").join(", ")})`,
          ...registered.map((c) => c.clientId),
        );
        const tokenOf = new Map(rows.map((r) => [r.client_id, r.token_id]));
        const validUntil = await registry.validUntilEach([...tokenOf.values()]);
        const t = now();
        for (const connection of registered) {
          const tokenId = tokenOf.get(connection.clientId);
          if (tokenId !== undefined && t < (validUntil.get(tokenId) ?? 0)) continue;
          log(`session closed: client ${printable(connection.clientId)} (its token is no longer valid)`);
          await admin.close(connection.name, "token no longer valid");
        }
      }
      await db.run("DELETE FROM delivery_ledger WHERE stored_at < ?", now() - LEDGER_RETENTION_MS);
    } catch (error) {
      log(`session check failed, tried again in a moment: ${(error as Error).message}`);
    }
  }
}

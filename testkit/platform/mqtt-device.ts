/**
 * A device played by MQTT.js and tweetnacl for the platform's tests. It computes the client ID
 * and the commitment with node:crypto on its own, so a platform bug does not cancel out.
 */
import { createHash, randomBytes } from "node:crypto";
import mqtt, { type MqttClient } from "mqtt";
import { createConnection } from "node:net";
import nacl from "tweetnacl";

export const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64url");
export const unb64 = (text: string) => new Uint8Array(Buffer.from(text, "base64url"));

export interface Received {
  topic: string;
  payload: Buffer;
  body: any;
}

/** Collects the messages a client receives; `next` waits for the first one that matches. */
export class Inbox {
  readonly #received: Received[] = [];
  readonly #waiters: { match: (m: Received) => boolean; resolve: (m: Received) => void }[] = [];

  constructor(client: MqttClient) {
    client.on("message", (topic, payload) => {
      let body: unknown;
      try {
        body = JSON.parse(payload.toString("utf8"));
      } catch {
        body = undefined;
      }
      const message = { topic, payload, body };
      const waiter = this.#waiters.findIndex((w) => w.match(message));
      if (waiter >= 0) this.#waiters.splice(waiter, 1)[0].resolve(message);
      else this.#received.push(message);
    });
  }

  next(match: (m: Received) => boolean, timeoutMs = 5000): Promise<Received> {
    const index = this.#received.findIndex(match);
    if (index >= 0) return Promise.resolve(this.#received.splice(index, 1)[0]);
    return new Promise((resolve, reject) => {
      const waiter = {
        match,
        resolve: (m: Received) => {
          clearTimeout(timer);
          resolve(m);
        },
      };
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(new Error("no matching message within " + timeoutMs + " ms"));
      }, timeoutMs);
      this.#waiters.push(waiter);
    });
  }

  /** Resolves true when nothing matching arrives within `ms`. */
  async nothing(match: (m: Received) => boolean, ms = 300): Promise<boolean> {
    return this.next(match, ms).then(
      () => false,
      () => true,
    );
  }
}

export interface Connected {
  client: MqttClient;
  inbox: Inbox;
}

/** MQTT.js options, and the loopback address (127.x.y.z) to connect from, as another host would. */
export type ConnectOptions = mqtt.IClientOptions & { localAddress?: string };

/** Connects without retries; rejects with the error carrying the CONNACK code in `code`. */
export async function connect(url: string, options: ConnectOptions): Promise<Connected> {
  const { localAddress, ...rest } = options;
  const settings = { protocolVersion: 4, keepalive: 60, reconnectPeriod: 0, connectTimeout: 5000, ...rest } as const;
  let client: MqttClient;
  if (localAddress === undefined) client = await mqtt.connectAsync(url, settings);
  else {
    const { hostname, port } = new URL(url);
    client = new mqtt.MqttClient(
      () => createConnection({ host: hostname, port: Number(port), localAddress }),
      settings,
    );
    await new Promise<void>((resolve, reject) => {
      client.once("connect", () => resolve());
      client.once("error", reject);
    });
  }
  return { client, inbox: new Inbox(client) };
}

/** The CONNACK return code a connection attempt gets (0 when accepted). */
export async function connackCode(url: string, options: mqtt.IClientOptions): Promise<number> {
  try {
    const { client } = await connect(url, options);
    await client.endAsync();
    return 0;
  } catch (error) {
    return (error as { code: number }).code;
  }
}

/** The SUBACK code for one filter: the granted QoS, or 128 when refused. */
export async function subackCode(client: MqttClient, topic: string): Promise<number> {
  try {
    return (await client.subscribeAsync(topic, { qos: 1 }))[0].qos;
  } catch (error) {
    const granted = (error as { packet?: { granted?: number[] } }).packet?.granted;
    if (!granted) throw error;
    return granted[0];
  }
}

/** Resolves when the broker closes the client's connection. */
export function closedByBroker(client: MqttClient, timeoutMs = 3000): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs);
    client.once("close", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

export class DeviceKeys {
  readonly keyPair = nacl.box.keyPair();
  readonly deviceNonce = randomBytes(16);
  readonly clientId = "p-" + createHash("sha512").update(this.keyPair.publicKey).digest("hex").slice(0, 20);
  readonly publicKey = b64(this.keyPair.publicKey);
  readonly commitment = b64(
    createHash("sha512")
      .update("commitment/v1")
      .update(this.keyPair.publicKey)
      .update(this.deviceNonce)
      .digest()
      .subarray(0, 32),
  );

  open(registration: { sealed: string; nonce: string; serverPublicKey: string }): string | undefined {
    const opened = nacl.box.open(
      unb64(registration.sealed),
      unb64(registration.nonce),
      unb64(registration.serverPublicKey),
      this.keyPair.secretKey,
    );
    return opened ? Buffer.from(opened).toString("utf8") : undefined;
  }
}

/** A provisioning session: subscribed to its replies, with request/reply by rid. */
export class ProvisioningDevice {
  #rid = 0;

  private constructor(
    readonly keys: DeviceKeys,
    readonly client: MqttClient,
    readonly inbox: Inbox,
  ) {}

  static async connect(
    url: string,
    token: string,
    keys = new DeviceKeys(),
    localAddress?: string,
  ): Promise<ProvisioningDevice> {
    const { client, inbox } = await connect(url, { ...provisioningLogin(keys, token), localAddress });
    const granted = await client.subscribeAsync(`prov/${keys.clientId}/res/+`, { qos: 1 });
    if (granted[0].qos !== 1) throw new Error("subscription refused");
    return new ProvisioningDevice(keys, client, inbox);
  }

  /** Publishes a request on req/{kind} and waits for the reply with the same rid. */
  async request(kind: string, body: Record<string, unknown>): Promise<any> {
    const rid = String(++this.#rid);
    await this.client.publishAsync(`prov/${this.keys.clientId}/req/${kind}`, JSON.stringify({ v: 2, rid, ...body }), {
      qos: 1,
    });
    return (await this.inbox.next((m) => m.topic === `prov/${this.keys.clientId}/res/${kind}` && m.body?.rid === rid))
      .body;
  }

  init(extra: Record<string, unknown> = {}): Promise<any> {
    return this.request("init", { publicKey: this.keys.publicKey, commitment: this.keys.commitment, ...extra });
  }

  complete(operationId: string, reveal = true): Promise<any> {
    return this.request(
      "complete",
      reveal ? { operationId, deviceNonce: b64(this.keys.deviceNonce) } : { operationId },
    );
  }

  /** Waits for a pushed reply (`rid: null`) about an operation. */
  async pushed(operationId: string): Promise<any> {
    return (await this.inbox.next((m) => m.body?.rid === null && m.body?.operationId === operationId)).body;
  }

  /** Ends at once: a session the broker closed may still hold unacknowledged publishes. */
  end(): Promise<void> {
    return this.client.endAsync(true);
  }
}

/** The CONNECT fields of a provisioning session (docs/protocol.md 1). */
export function provisioningLogin(keys: DeviceKeys, provisioningToken: string): mqtt.IClientOptions {
  return { clientId: keys.clientId, username: "provisioning", password: provisioningToken, clean: true };
}

/** The CONNECT fields of a registered session (docs/protocol.md 2). */
export function registeredLogin(workspaceId: string, deviceId: string, token: string): mqtt.IClientOptions {
  const clientId = `${workspaceId}:${deviceId}`;
  return { clientId, username: clientId, password: token, clean: false };
}

/** Connects a registered session with the credentials an approval gave. */
export async function connectRegistered(
  url: string,
  workspaceId: string,
  deviceId: string,
  token: string,
): Promise<Connected> {
  return connect(url, registeredLogin(workspaceId, deviceId, token));
}

/** What the helpers below need of a test platform. */
interface PlatformApi {
  mqttUrl: string;
  api(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
}

/** Creates a provisioning token through the API (`options` as POST /api/tokens takes them). */
export async function newToken(platform: PlatformApi, options: Record<string, unknown> = {}): Promise<string> {
  const created = await platform.api("POST", "/api/tokens", options);
  if (created.status !== 200) throw new Error(`token refused: ${JSON.stringify(created.body)}`);
  return created.body.token;
}

/**
 * Starts an operation (init, reveal) and approves it through the API: the provisioning session,
 * still open and not yet told, and the operation.
 */
export async function approvedOperation(
  platform: PlatformApi,
  provisioningToken: string,
  deviceId: string,
  keys = new DeviceKeys(),
): Promise<{ device: ProvisioningDevice; operationId: string }> {
  const device = await ProvisioningDevice.connect(platform.mqttUrl, provisioningToken, keys);
  const init = await device.init({ deviceId });
  await device.complete(init.operationId);
  const approved = await platform.api("POST", `/api/operations/${init.operationId}/approve`, {});
  if (approved.status !== 200) throw new Error(`approval refused: ${JSON.stringify(approved.body)}`);
  return { device, operationId: init.operationId };
}

/** Provisions a device end to end (init, reveal, approval through the API, fetch): its registration token. */
export async function provision(
  platform: PlatformApi,
  provisioningToken: string,
  deviceId: string,
  keys = new DeviceKeys(),
): Promise<{ keys: DeviceKeys; token: string }> {
  const { device, operationId } = await approvedOperation(platform, provisioningToken, deviceId, keys);
  const reply = await device.complete(operationId, false);
  await device.end();
  return { keys, token: keys.open(reply.registration)! };
}

/**
 * A Device ID or stream as docs/protocol.md (v2) writes it in a topic: every '.' as '~'. Written
 * here again, as an independent client would, not taken from either side.
 */
export function topicForm(name: string): string {
  return name.replace(/\./g, "~");
}

/** A registered session subscribed to its replies, with request/reply by rid on `D/req/{kind}`. */
export class RegisteredDevice {
  #rid = 0;

  private constructor(
    readonly root: string,
    readonly client: MqttClient,
    readonly inbox: Inbox,
    readonly version: 1 | 2,
  ) {}

  /** `version` 1: the first version's topics and requests (a Device ID written as it is). */
  static async connect(
    url: string,
    workspaceId: string,
    deviceId: string,
    token: string,
    version: 1 | 2 = 2,
  ): Promise<RegisteredDevice> {
    const { client, inbox } = await connectRegistered(url, workspaceId, deviceId, token);
    const root = `ws/${workspaceId}/dev/${version === 2 ? topicForm(deviceId) : deviceId}`;
    await client.subscribeAsync(`${root}/res/+`, { qos: 1 });
    return new RegisteredDevice(root, client, inbox, version);
  }

  /** A message's topic: v2's `D/msg/{stream}/{id}` with an id, else `D/msg/{stream}`. */
  messageTopic(stream: string, messageId?: number): string {
    const level = this.version === 2 ? topicForm(stream) : stream;
    return `${this.root}/msg/${level}${messageId === undefined ? "" : `/${messageId}`}`;
  }

  async request(kind: string, body: Record<string, unknown>): Promise<any> {
    const rid = String(++this.#rid);
    const request = JSON.stringify({ v: this.version, rid, ...body });
    await this.client.publishAsync(`${this.root}/req/${kind}`, request, { qos: 1 });
    return (await this.inbox.next((m) => m.topic === `${this.root}/res/${kind}` && m.body?.rid === rid)).body;
  }

  token(op: "status" | "refresh"): Promise<any> {
    return this.request("token", { op });
  }

  end(): Promise<void> {
    return this.client.endAsync(true);
  }
}

/**
 * Publishes `prefix-N` for N = 0, 1, … to a stream topic, each under an id of its own as the SDK
 * sends them (`{topic}/{id}`), until the connection dies; the acknowledged payloads.
 */
export function publishFlatOut(
  client: MqttClient,
  topic: string,
  prefix: string,
): { acked: Set<string>; stopped: Promise<void> } {
  const acked = new Set<string>();
  const stopped = new Promise<void>((resolve) => {
    let sequence = 0;
    let open = true;
    client.on("close", () => {
      open = false;
      resolve();
    });
    client.on("error", () => undefined);
    // 32 in flight at a time, each replaced as it is acknowledged.
    const next = () => {
      if (!open) return;
      const payload = `${prefix}-${sequence}`;
      client.publish(`${topic}/${(sequence++ % 0xffff) + 1}`, payload, { qos: 1 }, (error) => {
        if (!error) acked.add(payload);
        next();
      });
    };
    for (let i = 0; i < 32; i++) next();
  });
  return { acked, stopped };
}

/**
 * Publishes `count` QoS 1 messages of `payload` from each client to its stream topic, `inFlight`
 * at a time, each under an id of its own as the SDK numbers them (`{topic}/{id}`, protocol section
 * 2a); settles at the last PUBACK.
 */
export async function publishAll(
  clients: { client: MqttClient; topic: string }[],
  count: number,
  inFlight: number,
  payload: Buffer,
): Promise<void> {
  await Promise.all(
    clients.map(
      ({ client, topic }) =>
        new Promise<void>((resolve, reject) => {
          let sent = 0;
          let acked = 0;
          const next = () => {
            if (sent === count) return;
            client.publish(`${topic}/${(sent++ % 0xffff) + 1}`, payload, { qos: 1 }, (error) => {
              if (error) return reject(error);
              if (++acked === count) resolve();
              else next();
            });
          };
          for (let i = 0; i < Math.min(inFlight, count); i++) next();
        }),
    ),
  );
}

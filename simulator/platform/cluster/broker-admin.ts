/**
 * The few calls a platform worker makes to RabbitMQ's management API (rabbitmq_management): list
 * the MQTT connections of the whole cluster, close a user's or one connection (a revoked device's,
 * wherever it is connected), and set the policy that mirrors the platform's queues on every node.
 */

export interface BrokerConnection {
  /** The management API's name for the connection (what closing it takes). */
  name: string;
  /** The MQTT username: "provisioning", or a registered device's client ID. */
  user: string;
  clientId: string;
  node: string;
  /** The client's address. */
  peerHost: string;
  /** Packets the broker sent it (a PUBACK for each message taken), as its statistics last counted. */
  packetsSent: number;
  /** Bytes the broker received from it, as its statistics last counted. */
  bytesReceived: number;
}

export interface BrokerAdminOptions {
  /** http://HOST:PORT of any node's management listener (the API answers for the whole cluster). */
  url: string;
  username: string;
  password: string;
  /** Milliseconds a call may take. Default 5000. */
  timeoutMs?: number;
}

export class BrokerAdmin {
  readonly #options: BrokerAdminOptions;
  readonly #authorization: string;

  constructor(options: BrokerAdminOptions) {
    this.#options = options;
    this.#authorization = "Basic " + Buffer.from(`${options.username}:${options.password}`).toString("base64");
  }

  /** Every MQTT connection of the cluster (AMQP connections, the workers' own, are left out). */
  async mqttConnections(): Promise<BrokerConnection[]> {
    const listed = (await this.#call(
      "GET",
      "/api/connections?columns=name,user,node,protocol,peer_host,client_properties,send_cnt,recv_oct",
    )) as {
      name: string;
      user: string;
      node: string;
      protocol: string;
      peer_host?: string;
      client_properties?: { client_id?: string };
      send_cnt?: number;
      recv_oct?: number;
    }[];
    return listed
      .filter((c) => c.protocol.startsWith("MQTT") && typeof c.client_properties?.client_id === "string")
      .map((c) => ({
        name: c.name,
        user: c.user,
        node: c.node,
        peerHost: c.peer_host ?? "",
        clientId: c.client_properties!.client_id!,
        packetsSent: c.send_cnt ?? 0,
        bytesReceived: c.recv_oct ?? 0,
      }));
  }

  /**
   * Closes every connection of a user, on every node, at once (the broker's own connection
   * tracking, not the statistics the listing waits for): a registered device's username is its client ID.
   */
  async closeUser(username: string, reason: string): Promise<void> {
    await this.#call(
      "DELETE",
      `/api/connections/username/${encodeURIComponent(username)}`,
      { "x-reason": reason },
      [404],
    );
  }

  /** Closes a connection; one already gone is no error. */
  async close(name: string, reason: string): Promise<void> {
    await this.#call("DELETE", `/api/connections/${encodeURIComponent(name)}`, { "x-reason": reason }, [404]);
  }

  /** Mirrors the queues whose names start with `prefix` on every node, so one node's loss loses none of them. */
  async mirrorQueues(prefix: string): Promise<void> {
    const body = {
      pattern: `^${prefix.replace(/[.]/g, "\\.")}`,
      "apply-to": "queues",
      definition: {
        "ha-mode": "all",
        "ha-sync-mode": "automatic",
        "ha-promote-on-shutdown": "always",
        "ha-promote-on-failure": "always",
      },
    };
    await this.#call("PUT", `/api/policies/%2F/${encodeURIComponent(prefix + "mirrored")}`, {}, [], body);
  }

  async #call(
    method: string,
    path: string,
    headers: Record<string, string> = {},
    acceptedErrors: number[] = [],
    body?: unknown,
  ): Promise<unknown> {
    const response = await fetch(this.#options.url + path, {
      method,
      headers: {
        authorization: this.#authorization,
        ...(body === undefined ? {} : { "content-type": "application/json" }),
        ...headers,
      },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(this.#options.timeoutMs ?? 5000),
    });
    const text = await response.text();
    if (!response.ok && !acceptedErrors.includes(response.status))
      throw new Error(`RabbitMQ management API ${method} ${path}: ${response.status} ${text.slice(0, 200)}`);
    return text && response.headers.get("content-type")?.includes("json") ? JSON.parse(text) : undefined;
  }
}

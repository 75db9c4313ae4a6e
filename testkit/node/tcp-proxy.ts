/**
 * A TCP proxy between a client (a device) and a broker, for tests that play the network: it can
 * cut every link, point at another upstream port (a restarted platform listens elsewhere), swallow
 * what the client sends (a PUBLISH that never arrives) or what the broker answers (a lost PUBACK),
 * and rewrite the broker's packets (a tampering man in the middle: server-to-client bytes are split
 * into whole MQTT packets first, so a rewrite never sees half a packet). It records the client's
 * bytes, per connection.
 */
import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";

export type PacketRewrite = (packet: Buffer) => Buffer;

/** Splits a byte stream into whole MQTT packets. */
class PacketSplitter {
  #buffer = Buffer.alloc(0);

  push(bytes: Buffer): Buffer[] {
    this.#buffer = Buffer.concat([this.#buffer, bytes]);
    const packets: Buffer[] = [];
    for (;;) {
      let length = 0;
      let i = 1;
      for (let shift = 0; i < this.#buffer.length; i++, shift += 7) {
        length += (this.#buffer[i] & 0x7f) * 2 ** shift;
        if (!(this.#buffer[i] & 0x80)) break;
      }
      const end = i + 1 + length;
      if (i >= this.#buffer.length || end > this.#buffer.length) return packets;
      packets.push(this.#buffer.subarray(0, end));
      this.#buffer = this.#buffer.subarray(end);
    }
  }
}

export class TcpProxy {
  /** Where new connections go. */
  upstreamPort: number;
  /** Applied to every packet from the broker. */
  rewrite: PacketRewrite | undefined;
  /** While true, client-to-broker bytes are recorded but not forwarded. */
  swallow = false;
  /** While true, broker-to-client bytes are dropped. */
  swallowReplies = false;
  /** Every chunk the client sent, per connection, in order. */
  readonly sent: Buffer[][] = [];
  readonly #server: Server;
  readonly #sockets = new Set<Socket>();

  private constructor(upstreamPort: number, server: Server) {
    this.upstreamPort = upstreamPort;
    this.#server = server;
  }

  static async start(upstreamPort: number, rewrite?: PacketRewrite): Promise<TcpProxy> {
    const server = createServer();
    const proxy = new TcpProxy(upstreamPort, server);
    proxy.rewrite = rewrite;
    server.on("connection", (client) => proxy.#relay(client));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return proxy;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  #relay(client: Socket): void {
    const broker = connect(this.upstreamPort, "127.0.0.1");
    const splitter = new PacketSplitter();
    const chunks: Buffer[] = [];
    this.sent.push(chunks);
    for (const socket of [client, broker]) {
      this.#sockets.add(socket);
      socket.on("close", () => {
        this.#sockets.delete(socket);
        client.destroy();
        broker.destroy();
      });
      socket.on("error", () => socket.destroy());
    }
    client.on("data", (bytes: Buffer) => {
      chunks.push(bytes);
      if (!this.swallow) broker.write(bytes);
    });
    broker.on("data", (bytes: Buffer) => {
      if (this.swallowReplies) return;
      for (const packet of splitter.push(bytes)) client.write(this.rewrite ? this.rewrite(packet) : packet);
    });
  }

  /** Destroys every open link in both directions. */
  cut(): void {
    for (const socket of this.#sockets) socket.destroy();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

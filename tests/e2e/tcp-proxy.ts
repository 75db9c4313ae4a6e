/**
 * A TCP proxy between a device and the broker, for end-to-end tests: its upstream port can change
 * (a restarted platform listens elsewhere) and it can rewrite MQTT packets from the broker to the
 * device (a tampering man in the middle). Server-to-client bytes are split into whole MQTT packets
 * so a rewrite never sees half a packet.
 */
import { createServer, connect, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";

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
  upstreamPort: number;
  rewrite: PacketRewrite | undefined;
  #server: Server;
  #sockets = new Set<Socket>();

  private constructor(upstreamPort: number, server: Server) {
    this.upstreamPort = upstreamPort;
    this.#server = server;
  }

  static async start(upstreamPort: number, rewrite?: PacketRewrite): Promise<TcpProxy> {
    const server = createServer();
    const proxy = new TcpProxy(upstreamPort, server);
    proxy.rewrite = rewrite;
    server.on("connection", (device) => proxy.#relay(device));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return proxy;
  }

  get port(): number {
    return (this.#server.address() as AddressInfo).port;
  }

  #relay(device: Socket): void {
    const broker = connect(this.upstreamPort, "127.0.0.1");
    const splitter = new PacketSplitter();
    for (const socket of [device, broker]) {
      this.#sockets.add(socket);
      socket.on("close", () => {
        this.#sockets.delete(socket);
        device.destroy();
        broker.destroy();
      });
      socket.on("error", () => socket.destroy());
    }
    device.pipe(broker);
    broker.on("data", (bytes: Buffer) => {
      for (const packet of splitter.push(bytes)) device.write(this.rewrite ? this.rewrite(packet) : packet);
    });
  }

  /** Cuts every relayed connection. */
  dropConnections(): void {
    for (const socket of this.#sockets) socket.destroy();
  }

  async close(): Promise<void> {
    this.dropConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }
}

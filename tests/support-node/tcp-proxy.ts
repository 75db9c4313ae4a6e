/**
 * A TCP proxy between a client and a broker that a test can use to cut every link, or to swallow
 * what the client sends (so a PUBLISH never reaches the broker) or what the broker answers (so a
 * PUBACK never reaches the client), while recording the client's bytes.
 */
import { connect, createServer, type Socket } from "node:net";

export interface TcpProxy {
  readonly port: number;
  /** While true, client-to-broker bytes are recorded but not forwarded. */
  swallow: boolean;
  /** While true, broker-to-client bytes are dropped. */
  swallowReplies: boolean;
  /** Every chunk the client sent, per connection, in order. */
  readonly sent: Buffer[][];
  /** Destroys every open link in both directions. */
  cut(): void;
  close(): Promise<void>;
}

export async function startTcpProxy(targetPort: number): Promise<TcpProxy> {
  const links = new Set<Socket>();
  const proxy: TcpProxy = {
    port: 0,
    swallow: false,
    swallowReplies: false,
    sent: [],
    cut: () => {
      for (const socket of links) socket.destroy();
    },
    close: async () => {
      proxy.cut();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  const server = createServer((client) => {
    const chunks: Buffer[] = [];
    proxy.sent.push(chunks);
    const broker = connect(targetPort, "127.0.0.1");
    for (const socket of [client, broker]) {
      links.add(socket);
      socket.on("close", () => {
        links.delete(socket);
        client.destroy();
        broker.destroy();
      });
      socket.on("error", () => {});
    }
    client.on("data", (data) => {
      chunks.push(data);
      if (!proxy.swallow) broker.write(data);
    });
    broker.on("data", (data) => {
      if (!proxy.swallowReplies) client.write(data);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  (proxy as { port: number }).port = (server.address() as { port: number }).port;
  return proxy;
}

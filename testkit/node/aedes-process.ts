/**
 * Child process for aedes-broker.ts: aedes 1.x is an ES module that jest's CommonJS runtime
 * cannot load, so the broker runs here (under tsx) and talks to the test over IPC.
 * Hooks are chosen by the options in PROVISIO_AEDES_OPTIONS (JSON, see AedesTestOptions).
 */
import { createServer, type Server, type Socket } from "node:net";
import { Aedes } from "aedes";
import type { AedesChildMessage, AedesParentMessage, AedesTestOptions } from "./aedes-broker";

const options: AedesTestOptions = JSON.parse(process.env.PROVISIO_AEDES_OPTIONS ?? "{}");
const send = (message: AedesChildMessage) => process.send!(message);
let broker: Aedes;
let server: Server;
let port = 0;
const sockets = new Set<Socket>();
let dropped = false;

async function serve(): Promise<void> {
  broker = await Aedes.createBroker();
  if (!options.plain) installHooks();
  server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    broker.handle(socket);
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  port = (server.address() as { port: number }).port;
  send({ ready: port });
}

function installHooks(): void {
  broker.authenticate = (_client, username, password, done) => {
    send({ event: { kind: "authenticate", username: username ?? null } });
    if (options.password === undefined || password?.toString() === options.password) return done(null, true);
    done(Object.assign(new Error("bad password"), { returnCode: 4 }), false);
  };
  broker.authorizePublish = (_client, packet, done) => {
    send({ event: { kind: "publish", topic: packet.topic, messageId: packet.messageId ?? null, dup: packet.dup } });
    const drop = packet.topic === options.dropFirstPublishOn && !dropped;
    dropped ||= drop;
    // An error here makes aedes close the client's link before it sends a PUBACK.
    done(drop ? new Error("dropping the link") : null);
  };
}

async function close(): Promise<void> {
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => broker.close(() => resolve()));
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

process.on("message", (message: AedesParentMessage) => void handleParent(message));

async function handleParent(message: AedesParentMessage): Promise<void> {
  await close();
  if (message === "restart") await serve();
  else process.exit(0);
}

serve().catch((error) => {
  process.stderr.write(`aedes-process: ${error?.stack ?? error}\n`);
  process.exit(1);
});

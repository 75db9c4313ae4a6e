/** The CLI's API requests against a server that accepts the connection and never answers. */
import { createServer, type Server, type Socket } from "node:net";
import { sendApiRequest } from "../../simulator/cli/api-request";

let silent: Server;
const accepted: Socket[] = [];
let port: number;

beforeAll(async () => {
  silent = createServer((socket) => void accepted.push(socket));
  await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
  port = (silent.address() as { port: number }).port;
});

afterAll(async () => {
  for (const socket of accepted) socket.destroy();
  await new Promise((resolve) => silent.close(resolve));
});

test("a platform that never answers fails the request with ETIMEDOUT instead of hanging", async () => {
  const request = sendApiRequest(`http://127.0.0.1:${port}/api/tokens`, {
    method: "GET",
    adminKey: "k",
    timeoutMs: 300,
  });
  await expect(request).rejects.toMatchObject({ code: "ETIMEDOUT" });
  expect(accepted.length).toBe(1);
});

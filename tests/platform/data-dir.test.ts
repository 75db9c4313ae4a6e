/** One platform per data directory, and clear words when a port is taken. */
import { createServer } from "node:net";
import { startTestPlatform } from "../support-node/platform";

jest.setTimeout(30_000);

test("a second platform on the same data directory is refused, naming the first; after a kill -9 it starts", async () => {
  const first = await startTestPlatform();
  await expect(startTestPlatform({ dataDir: first.dataDir })).rejects.toThrow(
    new RegExp(`the data directory ${first.dataDir} is in use by another platform \\(pid ${first.pid}\\)`),
  );
  process.kill(first.pid, "SIGKILL");
  await new Promise((resolve) => setTimeout(resolve, 300));
  const second = await startTestPlatform({ dataDir: first.dataDir });
  expect((await second.api("GET", "/api/tokens")).status).toBe(200);
  await second.stop();
});

test("a taken port is reported as such, with what to do", async () => {
  const holder = createServer();
  await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", resolve));
  const port = (holder.address() as { port: number }).port;
  try {
    await expect(startTestPlatform({ mqttPort: port })).rejects.toThrow(
      `the MQTT port ${port} on 127.0.0.1 is already in use (another platform, or another server): choose another, or 0 for a free one`,
    );
  } finally {
    holder.close();
  }
});

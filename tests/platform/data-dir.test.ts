/** One platform per data directory, and clear words when a port is taken. */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startTestPlatform } from "../../testkit/node/platform";

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

test("when the wrapper that started it dies (npx sent SIGTERM passes nothing on), the platform shuts down", async () => {
  const dataDir = mkdtempSync(join(tmpdir(), "provisio-orphan-"));
  const bin = join(__dirname, "../../bin/provisio.js");
  // A parent that starts the CLI as npm exec does, then is killed without a word to its child.
  const wrapper = spawn(
    process.execPath,
    [
      "-e",
      `require("child_process").spawn(process.execPath, ${JSON.stringify([bin, "platform", "--data", dataDir, "--mqtt-port", "0", "--http-port", "0"])}, { stdio: "inherit" }); setInterval(() => {}, 1000);`,
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  wrapper.stdout.on("data", (chunk) => (output += chunk));
  wrapper.stderr.on("data", (chunk) => (output += chunk));
  try {
    for (let i = 0; i < 200 && !output.includes("ready"); i++) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(existsSync(join(dataDir, "platform.lock"))).toBe(true);
    wrapper.kill("SIGKILL");
    for (let i = 0; i < 100 && existsSync(join(dataDir, "platform.lock")); i++)
      await new Promise((resolve) => setTimeout(resolve, 50));
    expect(existsSync(join(dataDir, "platform.lock"))).toBe(false);
    expect(output).toContain("SIGTERM: shutting down");
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
});

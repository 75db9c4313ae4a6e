/**
 * The technician console in a real browser (Debian's chromium, driven by playwright-core) against
 * a real platform and a real SDK device: sign-in, the device's operation appears live with the
 * code the device shows, approval only once that code is typed, the device registers and its
 * message appears, revocation from the console closes its session. Screenshots of each step go
 * to test-results/console/ (looked at by hand; not compared).
 */
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { TestDevice } from "../../testkit/e2e/test-device";
import { createToken } from "../../testkit/e2e/technician";
import { eventually } from "../../testkit/node/eventually";
import { startTestPlatform, type TestPlatform } from "../../testkit/node/platform";

jest.setTimeout(120_000);

const chromiumPath = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const screenshots = join(__dirname, "../../test-results/console");

let platform: TestPlatform;
let browser: Browser;
const devices: TestDevice[] = [];

beforeAll(async () => {
  if (!existsSync(chromiumPath))
    throw new Error(`no chromium at ${chromiumPath}: apt-get install chromium (.ci/run does), or set CHROMIUM_PATH`);
  mkdirSync(screenshots, { recursive: true });
  platform = await startTestPlatform();
  browser = await chromium.launch({
    executablePath: chromiumPath,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
});

afterAll(async () => {
  for (const device of devices) device.stop();
  await browser?.close();
  await platform?.stop();
});

async function signedIn(page: Page): Promise<void> {
  await page.goto(`${platform.apiUrl}/`);
  await page.getByLabel("Admin key").fill("not-the-key");
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByText("That is not the admin key.").waitFor();
  await page.getByLabel("Admin key").fill(platform.adminKey);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Operations waiting for approval" }).waitFor();
}

test("sign in, see a device's code live, approve it by typing the code, see its message, revoke it", async () => {
  const context = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  const page = await context.newPage();
  const problems: string[] = [];
  page.on("pageerror", (error) => problems.push(error.message));
  // The browser logs the refused sign-in (401) itself: every other error is a problem.
  page.on("console", (message) => {
    if (message.type() === "error" && !/status of 401/.test(message.text())) problems.push(message.text());
  });
  await signedIn(page);
  const [session] = await context.cookies();
  expect(session).toMatchObject({ name: "provisio_session", httpOnly: true, sameSite: "Strict" });
  // The browser's page sees no cookie: it is HttpOnly.
  expect(await page.evaluate("document.cookie")).toBe("");

  // A device starts provisioning: its card appears without a reload.
  const device = new TestDevice({
    port: platform.mqttPort,
    token: await createToken(platform),
    deviceId: "console-0001",
  });
  devices.push(device);
  const shown = (await device.displayed()).verificationCode;
  const card = page.locator(`form.operation`, { hasText: shown });
  await card.waitFor();
  expect(await card.locator(".code").textContent()).toBe(shown);
  await expect(page.locator("#pending-count").textContent()).resolves.toBe("1");
  await page.screenshot({ path: join(screenshots, "1-pending.png"), fullPage: true });

  const approve = card.getByRole("button", { name: "Approve" });
  expect(await approve.isDisabled()).toBe(true);
  await card.getByLabel(/The code device/).fill("AAAA-AAAA");
  expect(await approve.isDisabled()).toBe(true);
  await card.getByLabel(/The code device/).fill(shown.toLowerCase());
  await card.getByLabel("Device ID").fill("no");
  expect(await approve.isDisabled()).toBe(true);
  expect(await card.locator(".note").textContent()).toMatch(/4-90/);
  await card.getByLabel("Device ID").fill("console-0001");
  expect(await approve.isDisabled()).toBe(false);
  await approve.click();
  await device.reaches("connected");
  await card.waitFor({ state: "detached" });
  await page.locator("#activity li", { hasText: `${shown} approved as console-0001` }).waitFor();

  // Its message, shown as JSON.
  await device.client.send("telemetry", new TextEncoder().encode(JSON.stringify({ temperature: 21.5 })));
  await page.getByRole("button", { name: "Messages" }).click();
  await page.locator("#messages td.payload", { hasText: '{"temperature":21.5}' }).waitFor();
  await page.screenshot({ path: join(screenshots, "2-messages.png"), fullPage: true });

  // Connected, then revoked from the console: the device's session closes.
  await page.getByRole("button", { name: "Devices" }).click();
  const row = page.locator('tr[data-device="console-0001"]');
  await row.waitFor();
  expect(await row.locator(".connected").textContent()).toBe("yes");
  expect(await row.textContent()).toContain("1 (1 KiB)");
  page.once("dialog", (dialog) => void dialog.accept());
  await row.getByRole("button", { name: "Revoke" }).click();
  await device.until("the registration refused", () =>
    device.states.some(([state, detail]) => state === "provisioning" && detail === "registration-rejected"),
  );
  await eventually(async () => (await row.locator(".connected").textContent()) === "no", "shown disconnected");
  await page.screenshot({ path: join(screenshots, "3-devices.png"), fullPage: true });
  expect(problems).toEqual([]);
  await context.close();
});

test("a rejection asks why, and the reason is kept with the operation", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signedIn(page);
  const device = new TestDevice({
    port: platform.mqttPort,
    token: await createToken(platform),
    deviceId: "console-0002",
  });
  devices.push(device);
  const shown = (await device.displayed()).verificationCode;
  const card = page.locator("form.operation", { hasText: shown });
  await card.waitFor();
  page.once("dialog", (dialog) => void dialog.accept("not our pump"));
  await card.getByRole("button", { name: "Reject" }).click();
  await card.waitFor({ state: "detached" });
  await page.locator("#activity li", { hasText: `${shown} rejected` }).waitFor();
  expect(await device.reaches("failed")).toBe("operation-rejected");
  const { body } = await platform.api("GET", "/api/operations?state=rejected");
  expect(body.operations.find((o: { verificationCode: string }) => o.verificationCode === shown)).toMatchObject({
    reason: "technician: not our pump",
  });
  await context.close();
});

test("a request that changes something with the cookie alone is refused (CSRF); sign-out ends the session", async () => {
  const context = await browser.newContext();
  const page = await context.newPage();
  await signedIn(page);
  const tokensBefore = (await platform.api("GET", "/api/tokens")).body.tokens.length;
  const forged = await page.evaluate(async () => {
    const response = await fetch("/api/tokens", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
    });
    return { status: response.status, body: (await response.json()) as { error: string } };
  });
  expect(forged).toEqual({ status: 403, body: expect.objectContaining({ error: "csrf" }) });
  expect((await platform.api("GET", "/api/tokens")).body.tokens.length).toBe(tokensBefore);
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByLabel("Admin key").waitFor();
  const after = await page.evaluate(async () => (await fetch("/api/operations")).status);
  expect(after).toBe(401);
  await context.close();
});

test("tokens: created and shown once, listed, revoked; the page fits a phone's width", async () => {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
  const page = await context.newPage();
  await signedIn(page);
  await page.getByRole("button", { name: "Tokens" }).click();
  await page.getByLabel("Name").fill("line 7");
  await page.getByLabel("Uses (empty: any)").fill("3");
  await page.getByLabel("Usable for (days; empty: until revoked)").fill("2");
  await page.getByRole("button", { name: "Create" }).click();
  const secret = page.locator("#created-token .secret");
  await secret.filter({ hasText: /^pt_/ }).waitFor();
  expect(await secret.textContent()).toMatch(/^pt_[A-Za-z0-9_-]{32}$/);
  expect(await page.locator("#created-token .qr svg").count()).toBe(1);
  const row = page.locator("#tokens tbody tr", { hasText: "line 7" });
  await row.waitFor();
  expect(await row.textContent()).toContain("0 of 3");
  expect(await row.locator('[data-label="Expires"]').textContent()).not.toBe("no expiry");
  expect(await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")).toBe(true);
  await page.screenshot({ path: join(screenshots, "4-tokens-phone.png"), fullPage: true });
  page.once("dialog", (dialog) => void dialog.accept());
  await row.getByRole("button", { name: "Revoke" }).click();
  await page
    .locator("#tokens tbody tr", { hasText: "line 7" })
    .locator('[data-label="State"]', { hasText: "revoked" })
    .waitFor();
  await context.close();
});

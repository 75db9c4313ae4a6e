/** The technician's side of the end-to-end tests: the platform's HTTP API, as the CLI uses it. */
import type { OperationDisplay } from "../../sdk/provisioning/provisioner";
import { eventually } from "../node/eventually";
import type { TestPlatform } from "../node/platform";

export async function createToken(platform: TestPlatform, body: Record<string, unknown> = {}): Promise<string> {
  const { status, body: created } = await platform.api("POST", "/api/tokens", body);
  expect(status).toBe(200);
  return created.token;
}

/** Waits until the platform shows the operation's code (after the reveal) and checks it is the device's. */
export async function codeShown(platform: TestPlatform, display: OperationDisplay): Promise<void> {
  let shown: string | undefined;
  await eventually(
    async () => {
      const { body: list } = await platform.api("GET", "/api/operations?state=pending");
      shown = list.operations.find((o: { id: string }) => o.id === display.operationId)?.verificationCode ?? undefined;
      return shown !== undefined;
    },
    `operation ${display.operationId} to show a code`,
    { timeoutMs: 20_000, intervalMs: 50 },
  );
  expect(shown).toBe(display.verificationCode);
}

/** Approves or rejects the operation once its code is shown, as a technician comparing codes would. */
export async function decide(
  platform: TestPlatform,
  display: OperationDisplay,
  action: "approve" | "reject",
  body: Record<string, unknown> = {},
): Promise<void> {
  await codeShown(platform, display);
  const { status, body: result } = await platform.api("POST", `/api/operations/${display.operationId}/${action}`, body);
  expect({ status, result }).toMatchObject({ status: 200 });
}

/**
 * Approves the operation showing `code`, once the platform has it: a device shows its code as soon
 * as the init reply arrives, a moment before the platform has checked its reveal and knows the code.
 */
export async function approveCode(platform: TestPlatform, code: string): Promise<void> {
  await eventually(
    async () => {
      const { body: list } = await platform.api("GET", "/api/operations?state=pending");
      return list.operations.some((o: { verificationCode: string | null }) => o.verificationCode === code);
    },
    `a pending operation showing ${code}`,
    { timeoutMs: 20_000, intervalMs: 50 },
  );
  const { status, body } = await platform.api("POST", `/api/operations/${code}/approve`, {});
  expect({ status, body }).toMatchObject({ status: 200 });
}

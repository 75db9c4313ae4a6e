/**
 * The one polling wait of the tests: until `condition()` holds (it may be async), in real time,
 * every `intervalMs`; after `timeoutMs` it fails naming `what`, with `detail()` when given.
 */
export async function eventually(
  condition: () => boolean | Promise<boolean>,
  what: string,
  options: { timeoutMs?: number; intervalMs?: number; detail?: () => string } = {},
): Promise<void> {
  const { timeoutMs = 5000, intervalMs = 20, detail } = options;
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${detail ? `; ${detail()}` : ""}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

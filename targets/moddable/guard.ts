/**
 * Every callback Moddable makes into this code goes through `guarded`: on the device an exception
 * that escapes a callback (or a rejected promise nobody handles) restarts the board.
 */
export function guarded(where: string, callback: () => void): void {
  try {
    callback();
  } catch (error) {
    try {
      trace(`error callback-threw where=${where} error=${error instanceof Error ? error.message : String(error)}\n`);
    } catch {
      // Nothing is left to report through.
    }
  }
}

/**
 * The size budgets of the device build, in minified bytes: checked by tests/bundle-budget.test.ts
 * and reported by the `bundle-size` and `moddable` benches. Flash pays for these bytes.
 */
export const sizeBudgets = {
  /** The MQTT part of the core alone (sdk/mqtt): 12 KiB until typed link failures and caller-chosen packet ids. */
  mqttBytes: 12.5 * 1024,
  /**
   * What the ESP32 loads besides the app: the core with its crypto, the adapters, the platform
   * module. 52 KiB with the persisted message queue and the outbox, until SHA-512 came from
   * Moddable's `crypt` and private members stopped being #names (47.0 KiB then), and base64 from
   * XS and the last pass of scripts/top-level-const.ts (44.6 KiB).
   */
  deviceSideBytes: 46 * 1024,
  /**
   * XS bytecode per minified byte of the four modules below, as Moddable 8.2.3's xsc compiled this
   * build (bench/results/moddable-mcsim.json, measured by hand: the tools are not in CI). CI scales
   * esbuild's output by it, so the budget follows what xsc writes; measure it again when the code's
   * shape changes (it was 1.27 with #names and for-of loops, 1.232 before the strings were shared).
   */
  xsBytecodePerMinifiedByte: 1.236,
  /**
   * The XS bytecode of the four modules of a `mcconfig -m -p lin` build of manifest.json (core,
   * adapters, platform, app): issue 26's goal. 59,951 bytes measured (62,756 and 74,572 before).
   */
  deviceBytecodeBytes: 60_000,
} as const;

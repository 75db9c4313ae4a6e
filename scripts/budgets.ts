/**
 * The size budgets of the device build, in minified bytes: checked by tests/bundle-budget.test.ts
 * and reported by the `bundle-size` and `moddable` benches. Flash pays for these bytes.
 */
export const sizeBudgets = {
  /** The MQTT part of the core alone (sdk/mqtt): 12 KiB until typed link failures and caller-chosen packet ids. */
  mqttBytes: 12.5 * 1024,
  /**
   * What the ESP32 loads besides the app: the core with its crypto, the adapters, the platform
   * module. 48 KiB until the persisted message queue (about 4.5 KiB with the outbox) came in.
   */
  deviceSideBytes: 52 * 1024,
} as const;

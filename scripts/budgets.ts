/**
 * The size budgets of the device build, in minified bytes: checked by tests/bundle-budget.test.ts
 * and reported by the `bundle-size` and `moddable` benches. Flash pays for these bytes.
 */
export const sizeBudgets = {
  /** The MQTT part of the core alone (sdk/mqtt). */
  mqttBytes: 12 * 1024,
  /** What the ESP32 loads besides the app: the core with its crypto, the adapters, the platform module. */
  deviceSideBytes: 48 * 1024,
} as const;

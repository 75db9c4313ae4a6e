/**
 * What XS on an ESP32 gives the fakes: `Time.ticks` a signed 32-bit count that wraps (started a
 * few seconds before the wrap so every run crosses it).
 */
export const platform: string = "esp32";

export function firstTicks(): number {
  return 0x7fffffff - 3000;
}

export function wrapTicks(ticks: number): number {
  return ticks | 0;
}

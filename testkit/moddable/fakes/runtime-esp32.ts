/**
 * What XS on an ESP32 gives the fakes: `Time.ticks` a signed 32-bit count that wraps (started a
 * few seconds before the wrap so every run crosses it), and Math.random() as XS computes it there,
 * c_rand() / C_RAND_MAX with c_rand() = esp_random() & 0x7fffffff: 31 random bits a call.
 */
import { askHost } from "./host";

export const platform = "esp32";

export function firstTicks(): number {
  return 0x7fffffff - 3000;
}

export function wrapTicks(ticks: number): number {
  return ticks | 0;
}

const cRandMax = 0x7fffffff;
let words: number[] = [];

Math.random = () => {
  let word = cRandMax;
  // XS asks c_rand() again while it returns C_RAND_MAX.
  while (word === cRandMax) {
    if (words.length === 0) words = askHost<number[]>({ op: "random-words", count: 64 });
    word = words.pop()! & cRandMax;
  }
  return word / cRandMax;
};

/**
 * The ESP32's hardware RNG through `Math.random()`. On ESP32, XS computes Math.random() as
 * c_rand() / C_RAND_MAX with c_rand() = esp_random() & 0x7fffffff and C_RAND_MAX = 0x7fffffff
 * (retrying the one value equal to it): 31 random bits a call, not 32, truly random while Wi-Fi or
 * Bluetooth is on (the app starts the client once the network is up). The 31-bit value is
 * recovered exactly (the division's error is far below one half) and its low 24 bits used.
 * The `rng` module is RC4 and must not make keys.
 */
import type { PlatformRandom } from "./platform";

const cRandMax = 0x7fffffff;

export const espRandom: PlatformRandom = {
  fill(bytes) {
    for (let i = 0; i < bytes.length; i += 3) {
      let bits = Math.round(Math.random() * cRandMax);
      for (let j = i; j < i + 3 && j < bytes.length; j++) {
        bytes[j] = bits & 0xff;
        bits >>>= 8;
      }
    }
  },
};

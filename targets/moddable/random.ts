/**
 * The Random port on the ESP32 hardware RNG: there `Math.random()` returns one `esp_random()` word
 * scaled to [0, 1), truly random while Wi-Fi or Bluetooth is on (the app starts the client after
 * the network is up). The `rng` module is RC4 and must not make keys.
 */
import type { Random } from "provisio-sdk";

const wordRange = 0x100000000;

export const hardwareRandom: Random = {
  fill(bytes) {
    for (let i = 0; i < bytes.length; i += 4) {
      let word = Math.floor(Math.random() * wordRange);
      for (let j = i; j < i + 4 && j < bytes.length; j++) {
        bytes[j] = word & 0xff;
        word >>>= 8;
      }
    }
  },
};

/**
 * What XS on Moddable's Linux simulator gives the fakes: `Time.ticks` is epoch milliseconds (far
 * beyond 32 bits, never wrapping), and Math.random() is the C library's rand() that nobody seeds:
 * the same sequence on every run. (Here a fixed-seed generator of the same shape, 31 bits a call,
 * stands for glibc's; what matters is that two runs agree: a key made from it would be every
 * device's.) The socket fake reads `platform` for the lin socket's ways.
 */
import { askHost } from "./host";

export const platform: string = "lin";

export function firstTicks(): number {
  return askHost<number>({ op: "wall-ms" });
}

export function wrapTicks(ticks: number): number {
  return ticks;
}

const randMax = 0x7fffffff;
let state = 1;

Math.random = () => {
  let word = randMax;
  while (word === randMax) {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    word = state >>> 1;
  }
  return word / randMax;
};

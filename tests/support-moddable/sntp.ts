/** Fake of Moddable's `sntp`: answers with the host's wall time on the next timer turn. */
import { askHost } from "./host";
import Timer from "./timer";

export default class SNTP {
  static readonly time = 1;
  static readonly retry = 2;
  static readonly error = -1;

  constructor(options: { host: string }, callback: (message: number, value?: number) => void) {
    if (typeof options.host !== "string" || options.host.length === 0) throw new Error("sntp: host required");
    Timer.set(() => callback(SNTP.time, askHost<number>({ op: "wall-seconds" })), 0);
  }
}

/**
 * Fake of Moddable's `sntp`: asks the host for the wall time on the next timer turn and calls back
 * with it, or with SNTP.error when the host says the server does not answer (the real client has
 * given up by then: it does not try again by itself).
 */
import { askHost } from "./host";
import Timer from "./timer";

export default class SNTP {
  static readonly time = 1;
  static readonly retry = 2;
  static readonly error = -1;

  constructor(options: { host: string }, callback: (message: number, value?: number) => void) {
    if (typeof options.host !== "string" || options.host.length === 0) throw new Error("sntp: host required");
    Timer.set(() => {
      const seconds = askHost<number | null>({ op: "sntp", host: options.host });
      if (seconds === null) callback(SNTP.error);
      else callback(SNTP.time, seconds);
    }, 0);
  }
}

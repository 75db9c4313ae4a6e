/**
 * When a Moddable socket may be closed and the next one opened, so that the Linux simulator
 * survives it. Moddable 8.2.3's lin socket (modules/network/socket/lin/modSocket.c):
 * - `close()` frees the native socket as soon as its use count reaches zero, while messages its
 *   poll (every 20 ms) already posted to the machine, delivered a millisecond later, still point
 *   at it: a socket opened meanwhile takes the freed memory, and those messages act on it;
 * - a socket closed inside its own callback is freed as the callback returns, found through its
 *   JavaScript object: if nothing referenced that object and the collector ran during the
 *   callback, mcsim crashes (gdb: socketReadable, fxGetHostDestructor, longjmp);
 * - `securesocket` (modules/crypt/securesocket/securesocket.js) closes its own socket inside that
 *   socket's disconnect callback, and deletes its reference to it.
 * The ESP32's lwip socket defers its close and has none of this; the rules below cost it nothing.
 * So every socket is closed outside its callbacks, on a later turn, while its connection (and a
 * securesocket's own socket) is still referenced, and stays so until its messages have drained;
 * no socket is opened inside another's callback, nor before the last one closed has drained.
 */
import Time from "time";
import Timer from "timer";

/** More than the lin poll's period and delivery delay (20 ms + 1 ms). */
const drainMs = 50;

/**
 * The sockets of one app: when the last one closed, so that the next waits for it to drain. One
 * instance serves every socket user of the app (the transport, SNTP); made at run time, since a
 * preloaded module keeps no state of its own.
 */
export class SocketLifetime {
  private _lastClosed: number | undefined;

  /** A socket was closed just now (by this code, or by a Moddable module inside its callback). */
  closed(): void {
    this._lastClosed = Time.ticks;
  }

  /** Calls `open` on a later turn, once the socket closed last has drained. */
  afterDrain(open: () => void): Timer {
    const since = this._lastClosed === undefined ? drainMs : Time.delta(this._lastClosed);
    return Timer.set(open, Math.max(0, drainMs - since));
  }

  /**
   * Closes `socket` on a later turn, then calls `drained` once its messages have drained; the
   * caller keeps everything the socket needs referenced until then. A socket the stack has closed
   * already is fine: on lin, `close()` after a disconnect throws, and securesocket ignores it.
   */
  closeOnLaterTurn(socket: { close(): void } | undefined, drained: () => void): void {
    Timer.set(() => {
      if (socket) {
        try {
          socket.close();
        } catch {
          // Closed by the stack.
        }
        this.closed();
      }
      Timer.set(drained, drainMs);
    }, 0);
  }
}

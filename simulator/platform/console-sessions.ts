/**
 * The technician console's sign-in sessions: signing in with the admin key gives a random session
 * ID in an HttpOnly, SameSite=Strict cookie, so the key itself stays out of the browser's storage.
 * In memory: a platform restart signs everyone out. Bounded: past MAX_SESSIONS the oldest ends.
 */
import { randomBytes } from "node:crypto";

export const SESSION_COOKIE = "provisio_session";
export const SESSION_LIFETIME_MS = 12 * 3600 * 1000;
const MAX_SESSIONS = 100;

export class ConsoleSessions {
  /** Session ID to its expiry (ms); insertion order is age order. */
  readonly #sessions = new Map<string, number>();
  readonly #now: () => number;

  constructor(now: () => number) {
    this.#now = now;
  }

  create(): string {
    const id = randomBytes(32).toString("base64url");
    if (this.#sessions.size >= MAX_SESSIONS) this.#sessions.delete(this.#sessions.keys().next().value!);
    this.#sessions.set(id, this.#now() + SESSION_LIFETIME_MS);
    return id;
  }

  valid(id: string | undefined): boolean {
    if (id === undefined) return false;
    const expires = this.#sessions.get(id);
    if (expires === undefined) return false;
    if (this.#now() < expires) return true;
    this.#sessions.delete(id);
    return false;
  }

  end(id: string | undefined): void {
    if (id !== undefined) this.#sessions.delete(id);
  }
}

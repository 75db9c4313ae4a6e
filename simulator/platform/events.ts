/**
 * What happens on the platform, as a stream for the console and for scripts (GET /api/events,
 * server-sent events): operations created, revealed (the code is known), approved, rejected or
 * expired; devices connected, disconnected, revoked or deleted; tokens created or revoked. Each
 * event carries the object as the API lists it. Delivery is live only: a client that was away
 * reads the lists, then follows the stream. Where several workers share one database, a relay
 * carries each event to every worker, so a stream on any of them shows what all of them do.
 */
import type { OperationInfo } from "./operations";
import type { TokenInfo } from "./provisioning-tokens";
import type { DeviceInfo } from "./registry";

export type PlatformEventBody =
  | {
      type:
        "operation-created" | "operation-revealed" | "operation-approved" | "operation-rejected" | "operation-expired";
      operation: OperationInfo;
    }
  | { type: "device-connected" | "device-disconnected"; device: { workspaceId: string; deviceId: string } }
  | { type: "device-revoked" | "device-deleted"; device: DeviceInfo }
  | { type: "token-created" | "token-revoked"; token: TokenInfo };

export type PlatformEvent = PlatformEventBody & { id: number; at: string };

export type PlatformEventType = PlatformEvent["type"];

/** What an operation's events are called. */
export type OperationEventType = Extract<PlatformEventBody, { operation: unknown }>["type"];

/** Every event type, for the API's documentation: the compiler checks the list is whole. */
export const platformEventTypes = Object.keys({
  "operation-created": true,
  "operation-revealed": true,
  "operation-approved": true,
  "operation-rejected": true,
  "operation-expired": true,
  "device-connected": true,
  "device-disconnected": true,
  "device-revoked": true,
  "device-deleted": true,
  "token-created": true,
  "token-revoked": true,
} satisfies Record<PlatformEventType, true>) as PlatformEventType[];

/** Carries events between the workers of one platform: `publish` reaches every worker's `deliver`, this one's too. */
export interface EventRelay {
  publish(body: PlatformEventBody): void;
}

/** Most listeners at once (open event streams): each costs a socket and a little memory. */
export const MAX_EVENT_LISTENERS = 64;

export class PlatformEvents {
  readonly #listeners = new Set<(event: PlatformEvent) => void>();
  readonly #now: () => number;
  #relay: EventRelay | undefined;
  #nextId = 1;

  constructor(now: () => number) {
    this.#now = now;
  }

  /** From now on, events go through the relay (and come back through `deliver`). */
  relayThrough(relay: EventRelay): void {
    this.#relay = relay;
  }

  emit(body: PlatformEventBody): void {
    if (this.#relay) this.#relay.publish(body);
    else this.deliver(body);
  }

  /** Hands an event to this worker's listeners. */
  deliver(body: PlatformEventBody): void {
    if (this.#listeners.size === 0) return;
    const event: PlatformEvent = { ...body, id: this.#nextId++, at: new Date(this.#now()).toISOString() };
    for (const listener of this.#listeners) listener(event);
  }

  /** Undefined when MAX_EVENT_LISTENERS already listen; else the function that stops listening. */
  subscribe(listener: (event: PlatformEvent) => void): (() => void) | undefined {
    if (this.#listeners.size >= MAX_EVENT_LISTENERS) return undefined;
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}

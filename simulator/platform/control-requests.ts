/**
 * Serves the devices' control requests (docs/protocol.md, Transport): provisioning `init` and
 * `complete`, and a registered device's `token` status and refresh. Whichever broker carried the
 * request, the reply is the same: its topic and body.
 */
import { PlatformError, errorBody } from "./errors";
import type { LogLine } from "./broker";
import type { Operations, Reply } from "./operations";
import { RateLimiter } from "./rate-limit";
import type { Registry } from "./registry";
import { parseRequest } from "./requests";
import type { Session } from "./topic-access";

export const DEFAULT_TOKEN_GRACE_S = 300;
/** A session may refresh this often: a device refreshes once per half lifetime. */
const REFRESH_LIMIT = { limit: 6, windowMs: 60_000 };
const MAX_TRACKED_DEVICES = 10_000;

export interface ControlRequestsOptions {
  operations: Operations;
  registry: Registry;
  now: () => number;
  log: LogLine;
  /** How long a refreshed token's predecessor stays valid, in seconds. Default 300. */
  tokenGraceS?: number;
}

export class ControlRequests {
  readonly #options: ControlRequestsOptions;
  readonly #refreshes: RateLimiter;

  constructor(options: ControlRequestsOptions) {
    this.#options = options;
    this.#refreshes = new RateLimiter({ ...REFRESH_LIMIT, maxKeys: MAX_TRACKED_DEVICES, now: options.now });
  }

  /**
   * The reply to the request of `kind` a session published under `root` with `payload`: where it
   * goes (under the same root), and what.
   */
  async answer(
    session: Session,
    request: { root: string; kind: string },
    payload: Uint8Array,
  ): Promise<{ topic: string; body: Reply }> {
    const { kind } = request;
    const topic = `${request.root}/res/${kind}`;
    const parsed = parseRequest(payload);
    if (!parsed.ok) return { topic, body: { rid: parsed.rid, ...errorBody(parsed.error) } };
    const { rid, body } = parsed.request;
    let reply: Reply;
    try {
      reply = await this.#serve(session, kind, body);
    } catch (error) {
      if (!(error instanceof PlatformError))
        this.#options.log(`internal error on ${kind} from ${topic}: ${(error as Error).stack}`);
      reply = errorBody(
        error instanceof PlatformError ? error : new PlatformError(500, "internal-error", "internal error"),
      );
    }
    return { topic, body: { rid, ...reply } };
  }

  async #serve(session: Session, kind: string, body: Record<string, unknown>): Promise<Reply> {
    const { operations, registry } = this.#options;
    if (session.kind === "provisioning") {
      if (kind === "init") return operations.init(session, body);
      if (kind === "complete") return operations.complete(session, body);
    } else if (kind === "token") {
      if (body.op === "status") return { status: 200, expiresIn: await registry.expiresIn(session.tokenId) };
      if (body.op === "refresh") {
        const retryAfter = this.#refreshes.take(`${session.workspaceId}:${session.deviceId}`);
        if (retryAfter) throw new PlatformError(429, "rate-limited", "too many refreshes", retryAfter);
        return {
          status: 200,
          ...(await registry.refresh(session, this.#options.tokenGraceS ?? DEFAULT_TOKEN_GRACE_S)),
        };
      }
      throw new PlatformError(400, "invalid-request", `unsupported token op ${JSON.stringify(body.op)?.slice(0, 40)}`);
    }
    throw new PlatformError(404, "unknown-request", `no request ${kind}`);
  }
}

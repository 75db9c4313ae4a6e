/**
 * One request to the platform's HTTP API, over http or https, with the admin key. node:http and
 * node:https rather than fetch, which in Node 20 cannot be given a CA. Apart from the CLI's client
 * so that the tests' platform helper uses it without loading the platform.
 */
import { request as httpRequest, type ClientRequest, type RequestOptions } from "node:http";
import { request as httpsRequest } from "node:https";

export interface ApiRequest {
  method: string;
  adminKey: string;
  body?: unknown;
  /** CA certificates (PEM) to trust for https instead of the system's. */
  ca?: string | Buffer;
  /** How long the socket may stay silent before the request fails with code "ETIMEDOUT". Default 30 s. */
  timeoutMs?: number;
}

export interface ApiResponse {
  status: number;
  text: string;
}

/** A request to the API at `url` with the admin key (and the CA for https), not yet sent. */
export function apiRequest(
  url: string,
  request: Pick<ApiRequest, "method" | "adminKey" | "ca">,
  headers: Record<string, string>,
): ClientRequest {
  const target = new URL(url);
  const https = target.protocol === "https:";
  const options: RequestOptions & { ca?: string | Buffer } = {
    method: request.method,
    headers: { authorization: `Bearer ${request.adminKey}`, ...headers },
    ...(https && request.ca !== undefined ? { ca: request.ca } : {}),
  };
  return (https ? httpsRequest : httpRequest)(target, options);
}

/** One request to the API at `url`; rejects with the socket's or TLS's error (its `code` says which). */
export function sendApiRequest(url: string, request: ApiRequest): Promise<ApiResponse> {
  return new Promise((resolve, reject) => {
    const req = apiRequest(url, request, { "content-type": "application/json" });
    req.on("response", (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("error", reject);
      res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
    });
    req.on("error", reject);
    req.setTimeout(request.timeoutMs ?? 30_000, () =>
      req.destroy(Object.assign(new Error("no answer"), { code: "ETIMEDOUT" })),
    );
    req.end(request.body === undefined ? undefined : JSON.stringify(request.body));
  });
}

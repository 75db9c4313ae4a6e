/**
 * The JSON schemas of what the HTTP API returns: fastify documents every route's replies with
 * them (the OpenAPI document at /api/openapi.json). They describe the objects operations.ts,
 * registry.ts, provisioning-tokens.ts and messages.ts build.
 */
import { MAX_PAGE } from "./paging";

const string = { type: "string" } as const;
const nullableString = { type: ["string", "null"] } as const;
const time = { type: "string", format: "date-time" } as const;
const nullableTime = { type: ["string", "null"], format: "date-time" } as const;
const attributes = { type: "object", additionalProperties: { type: "string" } } as const;

function object(properties: Record<string, unknown>, description: string) {
  return { type: "object", description, properties, required: Object.keys(properties) } as const;
}

export const apiSchemas = {
  token: object(
    {
      id: string,
      workspaceId: string,
      name: nullableString,
      hint: { type: "string", description: "the token's last characters, to tell tokens apart" },
      deviceId: nullableString,
      registrationLifetime: { type: "integer", description: "seconds" },
      expiresAt: nullableTime,
      maxUses: { type: ["integer", "null"] },
      uses: { type: "integer" },
      revoked: { type: "boolean" },
      state: { type: "string", enum: ["active", "revoked", "expired", "used-up"] },
      createdAt: time,
    },
    "A provisioning token (without the token itself)",
  ),
  operation: object(
    {
      id: string,
      workspaceId: string,
      provisioningTokenId: string,
      state: { type: "string", enum: ["pending", "approved", "rejected", "expired", "consumed"] },
      revealed: { type: "boolean", description: "false until the device's reveal arrived: approval waits for it" },
      verificationCode: { type: ["string", "null"], description: "the code the device shows, XXXX-XXXX" },
      requestedDeviceId: nullableString,
      deviceId: nullableString,
      attributes,
      createdAt: time,
      expiresAt: time,
      reason: nullableString,
    },
    "A provisioning operation",
  ),
  device: object(
    {
      workspaceId: string,
      deviceId: string,
      publicKey: { type: "string", description: "the device's X25519 public key, base64url" },
      attributes,
      createdAt: time,
      lastSeenAt: nullableTime,
      revokedAt: nullableTime,
      tokenExpiresAt: { ...nullableTime, description: "its newest registration token's expiry" },
      storedBytes: { type: "integer", description: "bytes of its messages the platform keeps" },
      storedMessages: { type: "integer", description: "how many of its messages the platform keeps" },
    },
    "A registered device",
  ),
  message: object(
    {
      id: { type: "integer" },
      workspaceId: string,
      deviceId: string,
      stream: string,
      payloadBase64: string,
      size: { type: "integer" },
      receivedAt: time,
    },
    "A stored device message",
  ),
};

const errorBody = object(
  { status: { type: "integer" }, error: { type: "string", description: "a stable code" }, message: string },
  "An error",
);

/** The error replies every route may give. */
export const errorReplies = {
  "4xx": { ...errorBody, properties: { ...errorBody.properties, retryAfter: { type: "integer" } } },
  "5xx": errorBody,
};

/** A list's page: `name` holds the items, `next` the cursor of the following page. */
export function pageOf(name: string, item: unknown) {
  return object({ [name]: { type: "array", items: item }, next: nullableString }, `A page of ${name}`);
}

/** The paging query (strings: the paging reads them), with a list's own filters. */
export function pageQuerySchema(filters: Record<string, unknown> = {}) {
  return {
    type: "object",
    properties: {
      limit: { type: "string", pattern: "^[0-9]+$", description: `items in the page, 1-${MAX_PAGE} (default 100)` },
      after: { type: "string", description: "the `next` cursor of the previous page" },
      ...filters,
    },
  } as const;
}

/**
 * The OpenAPI document at /api/openapi.json comes from the schemas that validate the requests
 * (fastify and @fastify/swagger): every route is in it with its parameters, body and replies, and
 * what it documents is what the API enforces.
 */
import { startTestPlatform, type TestPlatform } from "../../testkit/node/platform";

let platform: TestPlatform;
let document: any;

beforeAll(async () => {
  platform = await startTestPlatform();
  const response = await fetch(`${platform.apiUrl}/api/openapi.json`);
  expect(response.status).toBe(200);
  document = await response.json();
});
afterAll(() => platform.stop());

test("an OpenAPI 3 document of every route, behind the admin key", () => {
  expect(document.openapi).toMatch(/^3\./);
  expect(document.components.securitySchemes.adminKey).toEqual({ type: "http", scheme: "bearer" });
  expect(document.security).toEqual([{ adminKey: [] }]);
  const routes = Object.entries(document.paths as Record<string, Record<string, unknown>>).flatMap(([path, item]) =>
    Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
  );
  expect(routes.sort()).toEqual(
    [
      "GET /api/tokens",
      "POST /api/tokens",
      "POST /api/tokens/{tokenId}/revoke",
      "GET /api/operations",
      "POST /api/operations/{operation}/approve",
      "POST /api/operations/{operation}/reject",
      "GET /api/devices",
      "POST /api/devices/{deviceId}/revoke",
      "DELETE /api/devices/{deviceId}",
      "GET /api/messages",
      "GET /api/events",
    ].sort(),
  );
  for (const item of Object.values(document.paths as Record<string, Record<string, any>>))
    for (const operation of Object.values(item)) {
      expect(operation.summary).toEqual(expect.any(String));
      expect(operation.responses["200"]).toBeDefined();
      expect(operation.responses["4XX"].content["application/json"].schema.properties.error).toBeDefined();
    }
});

test("the documented replies are what the API answers", async () => {
  const created = await platform.api("POST", "/api/tokens", { name: "documented", maxUses: 3 });
  const tokenSchema = document.paths["/api/tokens"].post.responses["200"].content["application/json"].schema;
  expect(Object.keys(created.body).sort()).toEqual(Object.keys(tokenSchema.properties).sort());
  expect([...tokenSchema.required].sort()).toEqual(Object.keys(created.body).sort());
  const listSchema = document.paths["/api/tokens"].get.responses["200"].content["application/json"].schema;
  const { body: page } = await platform.api("GET", "/api/tokens");
  expect(Object.keys(page).sort()).toEqual(Object.keys(listSchema.properties).sort());
  expect(Object.keys(page.tokens[0]).sort()).toEqual(Object.keys(listSchema.properties.tokens.items.properties).sort());
});

test("what the document says a body may hold is enforced", async () => {
  const body = document.paths["/api/tokens"].post.requestBody.content["application/json"].schema;
  expect(body.properties.maxUses).toMatchObject({ type: "integer", nullable: true });
  expect(await platform.api("POST", "/api/tokens", { maxUses: "3" })).toMatchObject({
    status: 400,
    body: { error: "invalid-request", message: expect.stringContaining("maxUses") },
  });
  const states = document.paths["/api/operations"].get.parameters.find((p: { name: string }) => p.name === "state");
  expect(states.schema.enum).toContain("pending");
  expect((await platform.api("GET", "/api/operations?state=weird")).status).toBe(400);
});

/**
 * Two projects: `unit` (in-process, no engine, broker or platform process: `npm run test:unit`,
 * under a minute) and `integration` (the XS engine, brokers, platform processes, browsers of
 * the end-to-end tests). `npm test` runs both.
 * @type {import('jest').Config}
 */
const common = {
  testEnvironment: "node",
  transform: { "^.+\\.ts$": ["ts-jest", { tsconfig: "<rootDir>/tsconfig.jest.json" }] },
  testTimeout: 30000,
};

const unit = [
  "<rootDir>/tests/*.test.ts",
  "<rootDir>/tests/storage/**/*.test.ts",
  "<rootDir>/tests/moddable/manifest.test.ts",
  "<rootDir>/tests/platform/protocol.test.ts",
  "<rootDir>/tests/e2e/api-request.test.ts",
];

module.exports = {
  // A global option: jest reads no testTimeout from a project.
  testTimeout: common.testTimeout,
  projects: [
    { ...common, displayName: "unit", testMatch: unit },
    {
      ...common,
      displayName: "integration",
      testMatch: ["<rootDir>/tests/**/*.test.ts"],
      testPathIgnorePatterns: [
        "<rootDir>/tests/[^/]+\\.test\\.ts$",
        "/tests/storage/",
        "/tests/moddable/manifest\\.test\\.ts$",
        "/tests/platform/protocol\\.test\\.ts$",
        "/tests/e2e/api-request\\.test\\.ts$",
      ],
    },
  ],
};

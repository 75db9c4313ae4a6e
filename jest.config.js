/**
 * Four projects: `unit` (in-process, no engine, broker or platform process: `npm run test:unit`,
 * under a minute), `integration` (the XS engine, brokers, platform processes, browsers of the
 * end-to-end tests, the platform on SQLite, the cluster tests), `postgres` (the platform suite
 * again, its state in PostgreSQL) and `cluster` (part of it against the cluster mode). `npm test`
 * runs all four.
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
  "<rootDir>/tests/platform/session-rates.test.ts",
  "<rootDir>/tests/e2e/api-request.test.ts",
];

/** The platform's own suite: what both of its databases must pass alike. */
const platformSuite = [
  "<rootDir>/tests/platform/{attacks,bad-input,cli,duplicate-messages,durability,events,lifecycle,message-batch,openapi,paging,provisioning,restart,security}.test.ts",
  "<rootDir>/tests/e2e/{device-platform,lifecycle}.test.ts",
];

/** The part of the platform's suite that runs against the cluster mode too (one cluster for them all). */
const clusterSuite = [
  "<rootDir>/tests/platform/{attacks,duplicate-messages,durability,lifecycle,provisioning,security}.test.ts",
];

module.exports = {
  // A global option: jest reads no testTimeout from a project.
  testTimeout: common.testTimeout,
  // Most suites wait on servers and timers, not the CPU: two at a time on two cores (jest's
  // default, cores - 1, runs them one by one).
  maxWorkers: 2,
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
        "/tests/platform/session-rates\\.test\\.ts$",
        "/tests/e2e/api-request\\.test\\.ts$",
        "/tests/platform/shared-database\\.test\\.ts$",
      ],
    },
    {
      ...common,
      displayName: "cluster",
      globalSetup: "<rootDir>/testkit/node/cluster-global-setup.ts",
      globalTeardown: "<rootDir>/testkit/node/cluster-global-teardown.ts",
      testMatch: clusterSuite,
      setupFiles: ["<rootDir>/testkit/node/cluster-project.ts"],
    },
    {
      ...common,
      displayName: "postgres",
      globalSetup: "<rootDir>/testkit/node/postgres-global-setup.ts",
      globalTeardown: "<rootDir>/testkit/node/postgres-global-teardown.ts",
      testMatch: [...platformSuite, "<rootDir>/tests/platform/shared-database.test.ts"],
      setupFiles: ["<rootDir>/testkit/node/postgres-project.ts"],
    },
  ],
};

// ESLint for the whole tree, typescript-eslint with type information. The layers only look down:
// sdk <- targets <- simulator (platform, devices) <- simulator/cli, and sdk/ runs on XS with no
// host globals; both are rules here, so a wrong import or a Node global fails `npm run lint`.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

/** Relative imports that reach into a layer: `**` covers every depth of `../`. */
const into = (...folders) =>
  folders.map((folder) => ({
    group: [`**/${folder}/**`, `**/${folder}`],
    message: `this layer may not import from ${folder}/`,
  }));

/** What XS on a device does not have (sdk/ takes all of it through ports, or carries its own). */
const hostGlobals = [
  "setTimeout",
  "setInterval",
  "clearTimeout",
  "clearInterval",
  "setImmediate",
  "queueMicrotask",
  "console",
  "Buffer",
  "process",
  "require",
  "module",
  "TextEncoder",
  "TextDecoder",
  "fetch",
  "structuredClone",
  "window",
  "self",
  "global",
  "performance",
  "crypto",
].map((name) => ({
  name,
  message: "sdk/ runs on XS: take it through a port (sdk/ports.ts) or write it in sdk/",
}));

export default tseslint.config(
  { ignores: ["node_modules/", "dist/", "build/", "coverage/", "**/*.d.ts", "**/*.js", "**/*.mjs", "**/*.cjs"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // Tests and the host side parse JSON from processes and the network on purpose.
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/no-unsafe-return": "off",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/no-floating-promises": ["error", { ignoreVoid: true }],
      // A Command's run() is async by its interface, whether or not it awaits.
      "@typescript-eslint/require-await": "off",
      // TimerHandle is `unknown` on purpose (each target's own handle): `TimerHandle | undefined` says "maybe none".
      "@typescript-eslint/no-redundant-type-constituents": "off",
      // A variable declared before the closures that read it and assigned once after is fine.
      "prefer-const": ["error", { ignoreReadBeforeAssign: true }],
      "@typescript-eslint/restrict-template-expressions": [
        "error",
        { allowNumber: true, allowBoolean: true, allowArray: true, allowNullish: true },
      ],
      // One way to keep a member private on the host: JavaScript's own `#`, private at run time too
      // (XS code below has the other way, for its size).
      "no-restricted-syntax": [
        "error",
        {
          selector:
            ":matches(PropertyDefinition, TSParameterProperty)[accessibility='private'], MethodDefinition[accessibility='private'][kind!='constructor']",
          message: "private members are #name (a TypeScript `private` is public at run time)",
        },
      ],
    },
  },
  {
    files: ["sdk/**/*.ts"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            ...into("targets", "simulator", "tests", "bench", "scripts"),
            { regex: "^[^.]", message: "sdk/ imports nothing outside itself: no package, no node: module" },
          ],
        },
      ],
      "no-restricted-globals": ["error", ...hostGlobals],
      "@typescript-eslint/no-unsafe-assignment": "error",
      "@typescript-eslint/no-unsafe-member-access": "error",
      "@typescript-eslint/no-explicit-any": "error",
    },
  },
  {
    files: ["targets/**/*.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: into("simulator", "tests", "bench") }] },
  },
  {
    // The code the device runs keeps a member private with TypeScript's `private` and a name that
    // starts with `_`, which the build shortens (scripts/build.ts): XS compiles every `#name` into a
    // private name that each method using it captures, 6 % of the device's bytecode (issue 26).
    // Only private members start with `_`, so the shortening never renames what another module reads.
    files: ["sdk/**/*.ts", "targets/moddable/**/*.ts"],
    rules: {
      "no-restricted-syntax": [
        "error",
        { selector: "PrivateIdentifier", message: "on XS a private member is `private _name`, not #name" },
        {
          selector: ":matches(PropertyDefinition, MethodDefinition)[accessibility='private'] > .key:not([name=/^_/])",
          message: "a private member's name starts with _ (the build shortens those names)",
        },
        {
          selector:
            ":matches(PropertyDefinition, MethodDefinition, Property, TSPropertySignature, TSMethodSignature):not([accessibility='private']) > Identifier.key[name=/^_/]",
          message: "only private members start with _: the build renames those names in its module",
        },
      ],
    },
  },
  {
    files: ["simulator/**/*.ts"],
    ignores: ["simulator/cli/**"],
    rules: { "no-restricted-imports": ["error", { patterns: into("cli", "tests", "bench") }] },
  },
  {
    files: ["simulator/cli/**/*.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: into("tests", "bench") }] },
  },
  {
    // What tests and benchmarks share lives in testkit/: neither reaches into the other.
    files: ["testkit/**/*.ts", "bench/**/*.ts"],
    rules: { "no-restricted-imports": ["error", { patterns: into("tests") }] },
  },
);

/**
 * sdk/ runs on an ESP32 under XS: no Node or browser globals, no imports from outside sdk/ (not
 * even a package: its crypto is its own), no clock or randomness outside the ports. The sources are checked on the TypeScript
 * syntax tree (so comments and strings never count), and the esbuild bundle is checked too, since
 * a dependency could bring a global in. The type check against ES2022 alone is tsconfig.sdk.json's.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import ts from "typescript";
import { bundleSdk, repoRoot } from "../scripts/build";

const sdkDir = resolve(repoRoot, "sdk");

/** Globals that do not exist on the device. */
const hostGlobals = [
  "setTimeout",
  "setInterval",
  "console",
  "Buffer",
  "process",
  "require",
  "TextEncoder",
  "TextDecoder",
];
/** In sources, reaching any global through the global object is a way around the list above. */
const globalObjects = ["globalThis", "global", "window", "self"];
/**
 * Time and randomness come through the Clock and Random ports. Banned everywhere rather than only
 * at module top level: a top-level check is unsound (an IIFE hides the call) and the core has no
 * use for them anyway.
 */
const portMembers: [string, string][] = [
  ["Math", "random"],
  ["Date", "now"],
];
type Mode = "source" | "bundle";

/** True when `node` is a name after `.` or a declared property/member name, not a reference. */
function isPropertyName(node: ts.Identifier): boolean {
  const parent = node.parent;
  if (ts.isPropertyAccessExpression(parent)) return parent.name === node;
  if (ts.isQualifiedName(parent)) return parent.right === node;
  return (
    (ts.isPropertyAssignment(parent) ||
      ts.isPropertyDeclaration(parent) ||
      ts.isPropertySignature(parent) ||
      ts.isMethodDeclaration(parent) ||
      ts.isMethodSignature(parent) ||
      ts.isGetAccessorDeclaration(parent) ||
      ts.isSetAccessorDeclaration(parent) ||
      ts.isEnumMember(parent)) &&
    parent.name === node
  );
}

/** `typeof name !== "undefined"` and esbuild's minified `typeof name<"u"`. */
function isDefinedTest(condition: ts.Node, name: string): boolean {
  if (!ts.isBinaryExpression(condition)) return false;
  const { left, operatorToken, right } = condition;
  const testsName = ts.isTypeOfExpression(left) && ts.isIdentifier(left.expression) && left.expression.text === name;
  if (!testsName || !ts.isStringLiteral(right)) return false;
  const op = operatorToken.kind;
  return (
    ((op === ts.SyntaxKind.ExclamationEqualsEqualsToken || op === ts.SyntaxKind.ExclamationEqualsToken) &&
      right.text === "undefined") ||
    (op === ts.SyntaxKind.LessThanToken && right.text === "u")
  );
}

/** A reference that cannot run on XS: the operand of `typeof`, or only reached after a typeof test. */
function isGuarded(node: ts.Identifier): boolean {
  if (ts.isTypeOfExpression(node.parent)) return true;
  for (let child: ts.Node = node, parent = node.parent; parent; child = parent, parent = parent.parent) {
    if (ts.isConditionalExpression(parent) && parent.whenTrue === child && isDefinedTest(parent.condition, node.text))
      return true;
    if (ts.isIfStatement(parent) && parent.thenStatement === child && isDefinedTest(parent.expression, node.text))
      return true;
    if (
      ts.isBinaryExpression(parent) &&
      parent.operatorToken.kind === ts.SyntaxKind.AmpersandAmpersandToken &&
      parent.right === child &&
      isDefinedTest(parent.left, node.text)
    )
      return true;
  }
  return false;
}

function memberName(node: ts.Node): [string, string] | undefined {
  if (ts.isPropertyAccessExpression(node) && ts.isIdentifier(node.expression))
    return [node.expression.text, node.name.text];
  if (
    ts.isElementAccessExpression(node) &&
    ts.isIdentifier(node.expression) &&
    ts.isStringLiteralLike(node.argumentExpression)
  )
    return [node.expression.text, node.argumentExpression.text];
  return undefined;
}

function moduleSpecifier(node: ts.Node): ts.Expression | undefined {
  if (ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) return node.moduleSpecifier;
  if (ts.isImportEqualsDeclaration(node) && ts.isExternalModuleReference(node.moduleReference))
    return node.moduleReference.expression;
  if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) return node.arguments[0];
  if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) return node.argument.literal;
  return undefined;
}

function importProblem(specifier: string, fileName: string): string | undefined {
  if (specifier.startsWith(".")) {
    const target = relative(sdkDir, resolve(fileName, "..", specifier));
    return target.startsWith("..") ? `imports ${specifier}, outside sdk/` : undefined;
  }
  return `imports ${specifier}: sdk/ imports no package, only sdk/ files`;
}

/** Every portability problem in one file's text, as "file:line: problem". */
function portabilityProblems(fileName: string, text: string, mode: Mode): string[] {
  const kind = mode === "bundle" ? ts.ScriptKind.JS : ts.ScriptKind.TS;
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.ES2022, true, kind);
  const banned = mode === "bundle" ? hostGlobals : [...hostGlobals, ...globalObjects];
  const problems: string[] = [];
  const report = (node: ts.Node, problem: string) =>
    problems.push(`${fileName}:${source.getLineAndCharacterOfPosition(node.getStart()).line + 1}: ${problem}`);
  const visit = (node: ts.Node): void => {
    if (
      ts.isIdentifier(node) &&
      banned.includes(node.text) &&
      !isPropertyName(node) &&
      !(mode === "bundle" && isGuarded(node))
    )
      report(node, `uses ${node.text}`);
    const member = memberName(node);
    if (member && portMembers.some(([object, name]) => member[0] === object && member[1] === name))
      report(node, `uses ${member.join(".")}: take it from the ${member[0] === "Math" ? "Random" : "Clock"} port`);
    const specifier = mode === "source" ? moduleSpecifier(node) : undefined;
    if (specifier && ts.isStringLiteralLike(specifier)) {
      const problem = importProblem(specifier.text, fileName);
      if (problem) report(node, problem);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return problems;
}

function sdkFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sdkFiles(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

const files = sdkFiles(sdkDir);

describe("the checker", () => {
  const sample = resolve(sdkDir, "sample.ts");
  const problems = (text: string, mode: Mode = "source") => portabilityProblems(sample, text, mode);

  test("flags host globals, the global object, Math.random, Date.now and foreign imports", () => {
    expect(problems("setTimeout(() => {}, 1);")).toHaveLength(1);
    expect(problems("const log = console;")).toHaveLength(1);
    expect(problems("const b = { Buffer };")).toHaveLength(1);
    expect(problems("const e = new globalThis.TextEncoder();")).toHaveLength(1);
    expect(problems('const fs = require("fs");')).toHaveLength(1);
    expect(problems("export function f() { return Math.random() + Date['now'](); }")).toHaveLength(2);
    expect(problems('import { readFileSync } from "node:fs";')).toHaveLength(1);
    expect(problems('import nacl from "tweetnacl";')).toHaveLength(1);
    expect(problems('import { scenario } from "../tests/scenarios/harness";')).toHaveLength(1);
    expect(problems('export * from "mqtt-packet";')).toHaveLength(1);
    expect(problems('const x = await import("../bench/run");')).toHaveLength(1);
  });

  test("ignores comments, strings, property names and sdk/ imports", () => {
    const clean = [
      "// setTimeout(console.log, Buffer.from(process.env))",
      "/* require('fs'); Math.random() */",
      'const text = "setTimeout console Buffer";',
      "const port = { setTimeout: 1, console() {} };",
      "export function f(clock: { setTimer(): void; now(): number }) { clock.setTimer(); return clock.now(); }",
      "const o = { process: 0 }; o.process += 1;",
      'import { ticksAdd } from "./ticks";',
      'export type { Clock } from "./ports";',
    ].join("\n");
    expect(problems(clean)).toEqual([]);
  });

  test("in the bundle, accepts only references that run after a typeof test", () => {
    expect(problems('var r = typeof require<"u" ? require : null;', "bundle")).toEqual([]);
    expect(problems('if (typeof require !== "undefined") require("x");', "bundle")).toEqual([]);
    expect(problems('typeof process<"u" && process.exit();', "bundle")).toEqual([]);
    expect(problems('var r = typeof require<"u" ? null : require;', "bundle")).toHaveLength(1);
    expect(problems('if (typeof self !== "undefined") console.log(1);', "bundle")).toHaveLength(1);
  });
});

test("sdk/ has TypeScript files to check", () => {
  expect(files.length).toBeGreaterThan(0);
});

test.each(files.map((file) => relative(repoRoot, file)))("%s uses only portable code", (file) => {
  expect(portabilityProblems(file, readFileSync(resolve(repoRoot, file), "utf8"), "source")).toEqual([]);
});

test("the bundle of every sdk/ file, dependencies included, references no host global", async () => {
  const dir = mkdtempSync(join(tmpdir(), "provisio-portability-"));
  try {
    const entry = join(dir, "all-sdk.ts");
    writeFileSync(entry, files.map((file, i) => `export * as m${i} from ${JSON.stringify(file)};\n`).join(""));
    const bundle = await bundleSdk(entry);
    expect(portabilityProblems("bundle.js", bundle, "bundle")).toEqual([]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

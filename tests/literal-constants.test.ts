/**
 * The device build's last pass (scripts/top-level-const.ts): each constant made of literals written
 * where it is used (esbuild alone keeps them as module bindings once a module imports anything, and
 * XS then gives every function that reads one a closure slot for it), and a string used often
 * written once (XS writes a literal's bytes at each use).
 */
import ts from "typescript";
import { bundleModdable } from "../scripts/build-moddable";
import { inlineLiteralConstants } from "../scripts/top-level-const";

/** The names and initializers of a module's top-level `const` declarations. */
function topLevelConstants(code: string): { name: string; initializer: string }[] {
  const source = ts.createSourceFile("module.js", code, ts.ScriptTarget.ES2022, true, ts.ScriptKind.JS);
  return source.statements
    .filter((s): s is ts.VariableStatement => ts.isVariableStatement(s))
    .flatMap((s) => s.declarationList.declarations)
    .map((d) => ({ name: d.name.getText(source), initializer: d.initializer?.getText(source) ?? "" }));
}

test("a module that imports keeps its imports and gets each literal constant written in place", () => {
  const code = [
    'import{Digest as d}from"crypt";',
    'function f(b){b[0]=m;return new d("SHA512").write(b)}',
    "const m=165,n=m+4,s=new Uint8Array(n);",
    "function g(){return s.length+n}",
    "export{f,g};",
  ].join("");
  const out = inlineLiteralConstants(code);
  expect(out.startsWith('import{Digest as d}from"crypt";')).toBe(true);
  expect(topLevelConstants(out)).toEqual([{ name: expect.any(String), initializer: "new Uint8Array(169)" }]);
  expect(out).toMatch(/\[0\]=165/);
  expect(out).toMatch(/\.length\+169/);
  expect(out).toMatch(/new d\("SHA512"\)/);
});

test("values that are not literals stay where the module declared them, in order", () => {
  const code = "const a=Object.freeze([1]),b=2,c=a.length+b;export function h(){return a[0]+b+c}";
  const kept = topLevelConstants(inlineLiteralConstants(code));
  expect(kept.map((c) => c.initializer)).toEqual(["Object.freeze([1])", `${kept[0].name}.length+2`]);
});

test("a string used often becomes one constant; module specifiers and property names stay strings", () => {
  const out = inlineLiteralConstants(
    'import{a}from"connected";export function f(s){return{"connected":s==="connected"||s==="connected"||s==="connected"||s==="connected",b:a}}',
  );
  expect(out.startsWith('import{a}from"connected";')).toBe(true);
  const constants = topLevelConstants(out);
  expect(constants).toEqual([{ name: expect.any(String), initializer: '"connected"' }]);
  expect(out.match(/"connected"/g)).toHaveLength(2);
  expect(out).toContain(`{connected:`);
  expect(out.split(`===${constants[0].name}`)).toHaveLength(5);
  // A key in a destructuring pattern stays the key.
  const keys = inlineLiteralConstants(
    'export function h(o,s){const{"a-long-key":x}=o;return[x,s==="a-long-key"||s==="a-long-key"||s==="a-long-key"||s==="a-long-key"||s==="a-long-key"]}',
  );
  expect(keys).toContain('{"a-long-key":');
  expect(topLevelConstants(keys)).toEqual([{ name: expect.any(String), initializer: '"a-long-key"' }]);
  // Twice, two bytes: a constant would cost more than it saves.
  expect(inlineLiteralConstants('export function g(s){return s==="ab"||s==="ab"}')).toMatch(/==="ab"\|\|\w+==="ab"/);
});

test("no numeric constant is left as a binding in any device module", async () => {
  for (const module of await bundleModdable())
    expect({
      module: module.output,
      numeric: topLevelConstants(module.code).filter((c) => /^[-!~(]*[\d.]/.test(c.initializer)),
    }).toEqual({ module: module.output, numeric: [] });
});

/**
 * esbuild's bundler turns every top-level `const` into `var` (and `class X` into `var X = class`).
 * Moddable's xsl can freeze a preloaded module's bindings into flash only when they are `const`:
 * each `var` stays in RAM and xsl warns "no const" / "not frozen". This puts `const` back where it
 * is safe: a top-level `var` whose every name has an initializer and is never assigned anywhere in
 * the module (by name, in any scope: an inner variable of the same name keeps the outer one a
 * `var`, which errs on the safe side). The output is parsed again to check it.
 */
import { transformSync } from "esbuild";
import ts from "typescript";

/** Every identifier the code assigns to: `x = …`, `x += …`, `x++`, destructuring targets, for-in/of heads. */
function assignedNames(source: ts.SourceFile): Set<string> {
  const names = new Set<string>();
  const addTarget = (target: ts.Node): void => {
    if (ts.isIdentifier(target)) names.add(target.text);
    else if (ts.isParenthesizedExpression(target)) addTarget(target.expression);
    else if (ts.isArrayLiteralExpression(target)) target.elements.forEach(addTarget);
    else if (ts.isObjectLiteralExpression(target))
      for (const property of target.properties) {
        if (ts.isShorthandPropertyAssignment(property)) names.add(property.name.text);
        else if (ts.isPropertyAssignment(property)) addTarget(property.initializer);
        else if (ts.isSpreadAssignment(property)) addTarget(property.expression);
      }
    else if (ts.isSpreadElement(target)) addTarget(target.expression);
    else if (ts.isBinaryExpression(target) && target.operatorToken.kind === ts.SyntaxKind.EqualsToken)
      addTarget(target.left);
  };
  const visit = (node: ts.Node): void => {
    if (
      ts.isBinaryExpression(node) &&
      node.operatorToken.kind >= ts.SyntaxKind.FirstAssignment &&
      node.operatorToken.kind <= ts.SyntaxKind.LastAssignment
    )
      addTarget(node.left);
    else if (
      (ts.isPrefixUnaryExpression(node) || ts.isPostfixUnaryExpression(node)) &&
      (node.operator === ts.SyntaxKind.PlusPlusToken || node.operator === ts.SyntaxKind.MinusMinusToken)
    )
      addTarget(node.operand);
    else if (
      (ts.isForInStatement(node) || ts.isForOfStatement(node)) &&
      !ts.isVariableDeclarationList(node.initializer)
    )
      addTarget(node.initializer);
    ts.forEachChild(node, visit);
  };
  visit(source);
  return names;
}

/** The top-level `var` statements of `code` that can be `const`. */
function constCandidates(source: ts.SourceFile): ts.VariableStatement[] {
  const assigned = assignedNames(source);
  return source.statements.filter(
    (statement): statement is ts.VariableStatement =>
      ts.isVariableStatement(statement) &&
      (statement.declarationList.flags & ts.NodeFlags.BlockScoped) === 0 &&
      statement.declarationList.declarations.every(
        (d) => ts.isIdentifier(d.name) && d.initializer !== undefined && !assigned.has(d.name.text),
      ),
  );
}

/** The top-level bindings of an ES module that are not `const` (functions and classes count as frozen). */
export function topLevelVariables(code: string): string[] {
  const source = ts.createSourceFile("module.js", code, ts.ScriptTarget.ES2022, true, ts.ScriptKind.JS);
  return source.statements
    .filter(
      (s): s is ts.VariableStatement =>
        ts.isVariableStatement(s) && (s.declarationList.flags & ts.NodeFlags.Const) === 0,
    )
    .flatMap((s) => s.declarationList.declarations.map((d) => d.name.getText(source)));
}

export function constTopLevel(code: string): string {
  const source = ts.createSourceFile("module.js", code, ts.ScriptTarget.ES2022, true, ts.ScriptKind.JS);
  let output = code;
  // From the end, so earlier positions stay valid.
  for (const statement of constCandidates(source).reverse()) {
    const start = statement.declarationList.getStart(source);
    if (code.slice(start, start + 3) !== "var") throw new Error(`expected var at ${start}`);
    output = output.slice(0, start) + "const" + output.slice(start + 3);
  }
  const check = ts.createSourceFile("module.js", output, ts.ScriptTarget.ES2022, true, ts.ScriptKind.JS);
  const errors = (check as unknown as { parseDiagnostics: ts.Diagnostic[] }).parseDiagnostics;
  if (errors.length > 0)
    throw new Error(`const rewrite broke the module: ${ts.flattenDiagnosticMessageText(errors[0].messageText, " ")}`);
  return output;
}

/**
 * XS writes a string literal into the bytecode at each use (its bytes and three more), where a
 * module constant costs two bytes a read once xsl has frozen it. The strings that a constant makes
 * smaller (state names, log levels, JSON keys) become one, named so nothing of the module clashes.
 */
function shareStrings(code: string): string {
  const source = ts.createSourceFile("module.js", code, ts.ScriptTarget.ES2022, true, ts.ScriptKind.JS);
  const uses = new Map<string, ts.StringLiteral[]>();
  const visit = (node: ts.Node): void => {
    if (ts.isStringLiteral(node) && isExpressionPosition(node))
      uses.set(node.text, [...(uses.get(node.text) ?? []), node]);
    ts.forEachChild(node, visit);
  };
  visit(source);
  const declarations: string[] = [];
  const edits: { start: number; end: number; name: string }[] = [];
  uses.forEach((nodes, text) => {
    const bytes = Buffer.byteLength(text);
    // A read of the constant costs about three bytes (the read and the function's capture of it),
    // the constant the string once and a dozen more: the figures that made the build smallest.
    if (nodes.length * (bytes + 1) <= bytes + 12 + 3 * nodes.length) return;
    const name = `$shared${declarations.length}`;
    if (code.includes(name)) throw new Error(`${name} is already a name in the module`);
    declarations.push(`${name}=${JSON.stringify(text)}`);
    for (const node of nodes) edits.push({ start: node.getStart(source), end: node.getEnd(), name });
  });
  edits.sort((a, b) => b.start - a.start);
  let output = code;
  for (const edit of edits) output = output.slice(0, edit.start) + ` ${edit.name} ` + output.slice(edit.end);
  return declarations.length > 0 ? `const ${declarations.join(",")};${output}` : output;
}

/** A string literal that is a value, not a module specifier, a property name or a directive. */
function isExpressionPosition(node: ts.StringLiteral): boolean {
  const parent = node.parent;
  if (
    ts.isImportDeclaration(parent) ||
    ts.isExportDeclaration(parent) ||
    ts.isExternalModuleReference(parent) ||
    ts.isImportAttribute(parent)
  )
    return false;
  // A key in a destructuring pattern: `const { "a-b": x } = o`.
  if (ts.isBindingElement(parent) && parent.propertyName === node) return false;
  if (
    (ts.isPropertyAssignment(parent) ||
      ts.isMethodDeclaration(parent) ||
      ts.isPropertyDeclaration(parent) ||
      ts.isGetAccessor(parent) ||
      ts.isSetAccessor(parent) ||
      ts.isEnumMember(parent)) &&
    parent.name === node
  )
    return false;
  if (ts.isImportSpecifier(parent) || ts.isExportSpecifier(parent)) return false;
  if (ts.isExpressionStatement(parent)) return false;
  return true;
}

/** An initializer made only of literals and of constants already known to be: nothing it runs can fail or observe order. */
function isLiteralOnly(node: ts.Expression, literals: Set<string>): boolean {
  if (ts.isNumericLiteral(node) || ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return true;
  if (node.kind === ts.SyntaxKind.TrueKeyword || node.kind === ts.SyntaxKind.FalseKeyword) return true;
  if (ts.isIdentifier(node)) return literals.has(node.text);
  if (ts.isParenthesizedExpression(node)) return isLiteralOnly(node.expression, literals);
  if (ts.isPrefixUnaryExpression(node))
    return (
      node.operator !== ts.SyntaxKind.PlusPlusToken &&
      node.operator !== ts.SyntaxKind.MinusMinusToken &&
      isLiteralOnly(node.operand, literals)
    );
  if (ts.isBinaryExpression(node))
    return (
      // Punctuation operators only: the assignments and the keywords (in, instanceof) come after.
      node.operatorToken.kind < ts.SyntaxKind.FirstAssignment &&
      isLiteralOnly(node.left, literals) &&
      isLiteralOnly(node.right, literals)
    );
  return false;
}

/**
 * The device modules' last pass: strings shared (shareStrings), then literal constants written in
 * place. esbuild inlines a top-level constant only when it is declared before any other statement (so no
 * hoisted function can read it in its temporal dead zone) in a module without imports (so no
 * imported module can call back in before it is set); a bundle declares each module's constants
 * where each source file starts. This moves every constant whose value is made of literals to the
 * top and minifies again with the imports set aside (their bindings are free names meanwhile,
 * which esbuild neither renames nor reuses), so esbuild writes the value at each use: in XS each
 * module-level binding costs a slot in every closure that reads it. A literal's value is the same
 * before and after its declaration runs, so moving it changes nothing but the TDZ error.
 */
export function inlineLiteralConstants(built: string): string {
  const code = shareStrings(built);
  const source = ts.createSourceFile("module.js", code, ts.ScriptTarget.ES2022, true, ts.ScriptKind.JS);
  const literals = new Set<string>();
  const hoisted: string[] = [];
  const edits: { start: number; end: number; text: string }[] = [];
  const imports: string[] = [];
  for (const statement of source.statements) {
    if (ts.isImportDeclaration(statement)) {
      imports.push(statement.getText(source));
      edits.push({ start: statement.getStart(source), end: statement.getEnd(), text: "" });
    }
    if (!ts.isVariableStatement(statement) || (statement.declarationList.flags & ts.NodeFlags.Const) === 0) continue;
    const kept: string[] = [];
    for (const declaration of statement.declarationList.declarations) {
      const name = declaration.name;
      const literal =
        ts.isIdentifier(name) &&
        declaration.initializer !== undefined &&
        isLiteralOnly(declaration.initializer, literals);
      if (literal) literals.add(name.text);
      (literal ? hoisted : kept).push(declaration.getText(source));
    }
    if (kept.length === statement.declarationList.declarations.length) continue;
    edits.push({
      start: statement.getStart(source),
      end: statement.getEnd(),
      text: kept.length === 0 ? ";" : `const ${kept.join(",")};`,
    });
  }
  let output = code;
  for (const edit of edits.reverse()) output = output.slice(0, edit.start) + edit.text + output.slice(edit.end);
  if (hoisted.length > 0) output = `const ${hoisted.join(",")};${output}`;
  const inlined =
    imports.join("") + transformSync(output, { minify: true, treeShaking: true, format: "esm", target: "es2022" }).code;
  // An import nothing reads was no reserved name meanwhile: esbuild refuses the module if a binding took it.
  transformSync(inlined, { format: "esm", target: "es2022" });
  return inlined;
}

/**
 * esbuild's bundler turns every top-level `const` into `var` (and `class X` into `var X = class`).
 * Moddable's xsl can freeze a preloaded module's bindings into flash only when they are `const`:
 * each `var` stays in RAM and xsl warns "no const" / "not frozen". This puts `const` back where it
 * is safe: a top-level `var` whose every name has an initializer and is never assigned anywhere in
 * the module (by name, in any scope: an inner variable of the same name keeps the outer one a
 * `var`, which errs on the safe side). The output is parsed again to check it.
 */
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

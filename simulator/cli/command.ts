/** What every command module exports (simulator/cli/main.ts lists them, and loads one when it runs). */
export interface Command {
  /** The first word on the command line, e.g. "tokens". */
  name: string;
  /** Full help text for `provisio NAME --help`. */
  help: string;
  /** Runs with the words after the name; resolves to the exit code. Throws CliError for usage errors. */
  run(argv: string[]): Promise<number>;
}

export function print(text: string): void {
  process.stdout.write(text.endsWith("\n") ? text : text + "\n");
}

/** Left-aligned columns, for human output (`--json` prints the API's objects instead). */
export function table(header: string[], rows: (string | number | null | undefined)[][]): string {
  const cells = [
    header,
    ...rows.map((row) => row.map((cell) => (cell === null || cell === undefined ? "-" : String(cell)))),
  ];
  const widths = header.map((_, i) => Math.max(...cells.map((row) => row[i].length)));
  return cells
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i]))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

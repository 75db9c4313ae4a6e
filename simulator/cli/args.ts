/**
 * The command line: `--name value`, `--name=value`, boolean `--flag`, positionals, parsed by
 * Node's util.parseArgs. Unknown options are errors (with the nearest known one), so a typo never
 * silently does something else.
 */
import { parseArgs as nodeParseArgs } from "node:util";

/** The exit codes scripts can tell apart (listed in `provisio --help`). */
export const EXIT = {
  ok: 0,
  failed: 1,
  usage: 2,
  notFound: 3,
  /** The platform refused: a conflict or an invalid request (the code says which). */
  refused: 4,
  unauthorized: 5,
  unreachable: 6,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** An error the CLI reports in one line, exiting with `exitCode` (default: a usage error). */
export class CliError extends Error {
  override name = "CliError";
  readonly exitCode: ExitCode;

  constructor(message: string, exitCode: ExitCode = EXIT.usage) {
    super(message);
    this.exitCode = exitCode;
  }
}

export type OptionSpec = Record<string, "string" | "boolean">;

export interface ParsedArgs {
  positionals: string[];
  options: Record<string, string | boolean | undefined>;
}

/** The command line by Node's own parser (util.parseArgs), its errors as one-line usage errors. */
export function parseArgs(argv: readonly string[], spec: OptionSpec): ParsedArgs {
  const options = Object.fromEntries(Object.entries(spec).map(([name, type]) => [name, { type }]));
  try {
    const { values, positionals } = nodeParseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
    return { positionals, options: values };
  } catch (error) {
    const { code, message } = error as NodeJS.ErrnoException;
    const [, dashes = "--", name = ""] = /'(-{1,2})([^' =]+)/.exec(message) ?? [];
    if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
      const guess = closest(name, Object.keys(spec));
      throw new CliError(`unknown option ${dashes}${name}${guess ? ` (did you mean --${guess}?)` : ""} (see --help)`);
    }
    if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE")
      throw new CliError(
        spec[name] === "boolean"
          ? `--${name} takes no value`
          : /ambiguous/.test(message)
            ? `--${name}: a value that starts with - is written --${name}=VALUE`
            : `--${name} needs a value`,
      );
    throw new CliError(message);
  }
}

/** A string option's value, or undefined when absent. */
export function stringOption(args: ParsedArgs, name: string): string | undefined {
  const value = args.options[name];
  return typeof value === "string" ? value : undefined;
}

export function integerOption(args: ParsedArgs, name: string, min: number, max: number): number | undefined {
  const text = stringOption(args, name);
  if (text === undefined) return undefined;
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max)
    throw new CliError(`--${name} must be an integer from ${min} to ${max}`);
  return value;
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600, d: 86400 };

/** "30d", "12h", "90m", "45s" or plain seconds, as seconds, at most `maxSeconds`. */
export function durationOption(args: ParsedArgs, name: string, maxSeconds: number): number | undefined {
  const text = stringOption(args, name);
  if (text === undefined) return undefined;
  const match = /^(\d+)([smhd]?)$/.exec(text);
  const seconds = match ? Number(match[1]) * UNIT_SECONDS[match[2] || "s"] : 0;
  if (!(seconds > 0 && Number.isSafeInteger(seconds)))
    throw new CliError(`--${name} must be a duration like 30d, 12h, 90m or 45s`);
  if (seconds > maxSeconds)
    throw new CliError(`--${name} must be at most ${Math.floor(maxSeconds / 86400)}d (${maxSeconds} s)`);
  return seconds;
}

/** The candidate nearest `word` by edit distance, when near enough to be a typo of it. */
export function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Math.max(2, Math.floor(word.length / 3)) + 1;
  for (const candidate of candidates) {
    const distance = editDistance(word, candidate);
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  return best;
}

/** Edits (insert, delete, replace, swap two neighbours) that turn `a` into `b`. */
function editDistance(a: string, b: string): number {
  const rows = [Array.from({ length: b.length + 1 }, (_, j) => j)];
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(rows[i - 1][j] + 1, row[j - 1] + 1, rows[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        row[j] = Math.min(row[j], rows[i - 2][j - 2] + 1);
    }
    rows.push(row);
  }
  return rows[a.length][b.length];
}

/**
 * A small command-line parser: `--name value`, `--name=value`, boolean `--flag`, positionals.
 * Unknown options are errors, so a typo never silently does something else.
 */
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

export function parseArgs(argv: readonly string[], spec: OptionSpec): ParsedArgs {
  const positionals: string[] = [];
  const options: ParsedArgs["options"] = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith("--") || arg === "--") {
      positionals.push(arg);
      continue;
    }
    const eq = arg.indexOf("=");
    const name = arg.slice(2, eq < 0 ? undefined : eq);
    const kind = spec[name];
    if (!kind) {
      const guess = closest(name, Object.keys(spec));
      throw new CliError(`unknown option --${name}${guess ? ` (did you mean --${guess}?)` : ""} (see --help)`);
    }
    if (kind === "boolean") {
      if (eq >= 0) throw new CliError(`--${name} takes no value`);
      options[name] = true;
    } else if (eq >= 0) {
      options[name] = arg.slice(eq + 1);
    } else {
      if (i + 1 >= argv.length) throw new CliError(`--${name} needs a value`);
      options[name] = argv[++i];
    }
  }
  return { positionals, options };
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

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++)
      row[j] = Math.min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    previous = row;
  }
  return previous[b.length];
}

/** The CLI's command line (simulator/cli/args.ts): Node's util.parseArgs, with errors a technician can act on. */
import { CliError, closest, parseArgs } from "../simulator/cli/args";

const spec = { limit: "string", json: "boolean", "device-id": "string" } as const;

test("values in both forms, flags, positionals; the last of a repeated option wins", () => {
  expect(parseArgs(["list", "--limit", "5", "--json", "--device-id=pump-1", "x", "--limit=7"], spec)).toEqual({
    positionals: ["list", "x"],
    options: { limit: "7", json: true, "device-id": "pump-1" },
  });
  expect(parseArgs(["--limit=-3"], spec).options.limit).toBe("-3");
});

test.each([
  [["--limt", "3"], "unknown option --limt (did you mean --limit?) (see --help)"],
  [["--frobnicate"], "unknown option --frobnicate (see --help)"],
  [["--json=yes"], "--json takes no value"],
  [["--limit"], "--limit needs a value"],
  [["--limit", "-3"], "--limit: a value that starts with - is written --limit=VALUE"],
  [["-x"], "unknown option -x (see --help)"],
])("%j is a usage error: %s", (argv, message) => {
  let thrown: unknown;
  try {
    parseArgs(argv, spec);
  } catch (error) {
    thrown = error;
  }
  expect(thrown).toBeInstanceOf(CliError);
  expect(thrown).toMatchObject({ message, exitCode: 2 });
});

test("did-you-mean picks a near name, and nothing for a far one", () => {
  expect(closest("tokns", ["tokens", "ops", "devices"])).toBe("tokens");
  expect(closest("devcie", ["tokens", "ops", "devices"])).toBe("devices");
  expect(closest("zzz", ["tokens", "ops", "devices"])).toBeUndefined();
});

/**
 * `npm run bench [-- name...]`: runs every benchmark (or the named ones), writes
 * bench/results/<name>.json, rebuilds bench/results/README.md from every recorded result, and
 * prints each summary. See bench/README.md for how to read them.
 */
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { resolve } from "node:path";
import * as bundleSize from "./bundle-size";
import * as cli from "./cli";
import * as cluster from "./cluster";
import * as crypto from "./crypto";
import * as messageQueue from "./message-queue";
import * as moddable from "./moddable";
import * as mqttCodec from "./mqtt-codec";
import * as platformBench from "./platform";
import * as provisioning from "./provisioning";
import * as refresh from "./refresh";
import * as revocation from "./revocation";
import * as storage from "./storage";
import * as tls from "./tls";
import * as xsSession from "./xs-session";

/** What every bench module's `run()` resolves to. */
export interface BenchReport {
  name: string;
  /** Figures, nested as the bench likes; the combined table flattens them. */
  results: Record<string, unknown>;
  /** One line for people. */
  summary: string;
}

interface BenchRecord extends BenchReport {
  date: string;
  node: string;
  cpu: string;
  cpuCount: number;
}

const benches: Record<string, { run(): Promise<BenchReport> }> = {
  "mqtt-codec": mqttCodec,
  "xs-session": xsSession,
  "bundle-size": bundleSize,
  moddable,
  storage,
  "message-queue": messageQueue,
  revocation,
  refresh,
  provisioning,
  tls,
  crypto,
  platform: platformBench,
  cli,
  cluster,
};
const resultsDir = resolve(__dirname, "results");

/** `{ a: { b: 1 } }` as `[["a.b", "1"]]`. */
function flatten(value: unknown, prefix = ""): [string, string][] {
  if (value === null || typeof value !== "object") return [[prefix, String(value)]];
  return Object.entries(value).flatMap(([key, inner]) => flatten(inner, prefix ? `${prefix}.${key}` : key));
}

function combinedTable(records: BenchRecord[]): string {
  return [
    "# Benchmark results",
    "",
    "Written by `npm run bench`. Compare ratios within one run, not absolute times (see ../README.md).",
    "",
    ...records.map((r) => `- **${r.name}** (${r.date}, ${r.cpu} x${r.cpuCount}, Node ${r.node}): ${r.summary}`),
    "",
    "| bench | measure | value |",
    "|---|---|---|",
    ...records.flatMap((r) => flatten(r.results).map(([key, value]) => `| ${r.name} | ${key} | ${value} |`)),
    "",
  ].join("\n");
}

async function main(selected: string[]): Promise<void> {
  const unknown = selected.filter((name) => !(name in benches));
  if (unknown.length > 0)
    throw new Error(`no bench named ${unknown.join(", ")}; known: ${Object.keys(benches).join(", ")}`);
  mkdirSync(resultsDir, { recursive: true });
  let failed = false;
  for (const [name, bench] of Object.entries(benches)) {
    if (selected.length > 0 && !selected.includes(name)) continue;
    try {
      const report = await bench.run();
      const record: BenchRecord = {
        ...report,
        date: new Date().toISOString(),
        node: process.version,
        cpu: cpus()[0]?.model ?? "unknown",
        cpuCount: cpus().length,
      };
      writeFileSync(resolve(resultsDir, `${name}.json`), JSON.stringify(record, null, 2) + "\n");
      console.log(`${name}: ${report.summary}`);
    } catch (error) {
      failed = true;
      console.error(`bench ${name} failed:`, error);
    }
  }
  const recorded = Object.keys(benches)
    .filter((name) => readdirSync(resultsDir).includes(`${name}.json`))
    .map((name) => JSON.parse(readFileSync(resolve(resultsDir, `${name}.json`), "utf8")) as BenchRecord);
  writeFileSync(resolve(resultsDir, "README.md"), combinedTable(recorded));
  if (failed) process.exitCode = 1;
}

if (require.main === module)
  main(process.argv.slice(2)).catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });

/**
 * The device's own NaCl subset (sdk/crypto/nacl) against tweetnacl's nacl-fast and nacl.js, inside
 * the real XS engine: xsnap compute units over an idle crank for one X25519, opening a 200-byte
 * box, and SHA-512 of 1 KB, same inputs in the same run; and each one's minified size with the
 * options of the device build. Run alone: `npm run bench -- crypto`.
 */
import { bundleSdk, bundleXsScript } from "../scripts/build";
import { XsWorker, parseJson } from "../simulator/xs-engine/worker";
import type { BenchReport } from "./run";

const names = ["ours", "naclFast", "naclSmall"] as const;
const jobs = ["x25519", "openBox", "sha512"] as const;
type Name = (typeof names)[number];
type Job = (typeof jobs)[number];

async function minifiedBytes(entry: string): Promise<number> {
  return Buffer.byteLength(await bundleSdk(entry));
}

async function compute(): Promise<Record<Job, Record<Name, number>>> {
  const worker = new XsWorker({ name: "crypto" });
  worker.start();
  try {
    await worker.evaluate(await bundleXsScript("bench/crypto-entry.ts", "cryptoBench"));
    await worker.evaluate("cryptoBench.setup()");
    const idle = (await worker.evaluate("cryptoBench.idle()")).meter.compute;
    const figures = {} as Record<Job, Record<Name, number>>;
    for (const job of jobs) {
      figures[job] = {} as Record<Name, number>;
      for (const name of names)
        figures[job][name] = (await worker.evaluate(`cryptoBench.measure("${name}", "${job}")`)).meter.compute - idle;
    }
    const outputs = parseJson<Record<string, string>>((await worker.evaluate("cryptoBench.results()")).reply);
    for (const job of jobs) {
      const expected = outputs[`naclFast ${job}`];
      if (expected === "null" || expected === "undefined")
        throw new Error(`tweetnacl's ${job} failed on the bench inputs`);
      for (const name of names)
        if (outputs[`${name} ${job}`] !== expected) throw new Error(`${name} ${job} disagrees with nacl-fast in XS`);
    }
    return figures;
  } finally {
    await worker.close();
  }
}

const ratio = (a: number, b: number) => Number((a / b).toFixed(2));

export async function run(): Promise<BenchReport> {
  const figures = await compute();
  const ratios = Object.fromEntries(
    jobs.map((job) => [
      job,
      {
        oursOverNaclFast: ratio(figures[job].ours, figures[job].naclFast),
        oursOverNaclSmall: ratio(figures[job].ours, figures[job].naclSmall),
      },
    ]),
  );
  const minified = {
    ours: await minifiedBytes("sdk/crypto/nacl/index.ts"),
    naclFast: await minifiedBytes("node_modules/tweetnacl/nacl-fast.js"),
    naclSmall: await minifiedBytes("node_modules/tweetnacl/nacl.js"),
  };
  const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KB`;
  const summary =
    `compute ours / nacl-fast / nacl.js: ` +
    jobs.map((job) => `${job} ${figures[job].ours} / ${figures[job].naclFast} / ${figures[job].naclSmall}`).join("; ") +
    ` (X25519 ours = ${ratios.x25519.oursOverNaclFast} x nacl-fast, ${ratios.x25519.oursOverNaclSmall} x nacl.js); ` +
    `minified ${kb(minified.ours)} / ${kb(minified.naclFast)} / ${kb(minified.naclSmall)}`;
  return { name: "crypto", results: { compute: figures, ratios, minified }, summary };
}

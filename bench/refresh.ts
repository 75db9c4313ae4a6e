/**
 * Cost of one registration token refresh on the device, in xsnap's meter figures inside the real
 * XS engine: handling the platform's refresh reply (opening the sealed token with the device key,
 * storing it, reconnecting with it), against one X25519 scalar multiplication. The protocol
 * allows one per refresh: the ratio shows it. Run alone: `npm run bench -- refresh`.
 */
import { bundleXsScript } from "../scripts/build";
import { XsWorker, parseJson } from "../simulator/xs-engine/worker";
import type { BenchReport } from "./run";

interface RefreshOutcome {
  stored: number;
  connects: number;
  password: string;
}

export async function run(): Promise<BenchReport> {
  const worker = new XsWorker({ name: "refresh" });
  worker.start();
  try {
    await worker.evaluate(await bundleXsScript("bench/refresh-entry.ts", "refreshBench"));
    const setup = parseJson<{ state: string }>((await worker.evaluate("refreshBench.setup()")).reply);
    if (setup.state !== "connected") throw new Error(`the device did not connect in XS: ${JSON.stringify(setup)}`);
    const idle = await worker.evaluate("refreshBench.idle()");
    const refresh = await worker.evaluate("refreshBench.refresh()");
    const outcome = parseJson<RefreshOutcome>(refresh.reply);
    if (outcome.stored !== 1 || outcome.connects !== 2 || !outcome.password.startsWith("rt_second"))
      throw new Error(`the refresh did not complete in XS: stored ${outcome.stored}, connects ${outcome.connects}`);
    const scalarMult = await worker.evaluate("refreshBench.scalarMult()");
    const refreshCompute = refresh.meter.compute - idle.meter.compute;
    const scalarMultCompute = scalarMult.meter.compute;
    const results = {
      refreshCompute,
      scalarMultCompute,
      refreshInScalarMults: Number((refreshCompute / scalarMultCompute).toFixed(2)),
      idleCompute: idle.meter.compute,
    };
    const summary =
      `one refresh (open sealed token, store, reconnect): ${refreshCompute} compute over idle = ` +
      `${results.refreshInScalarMults} x one X25519 scalar multiplication (${scalarMultCompute})`;
    return { name: "refresh", results, summary };
  } finally {
    await worker.close();
  }
}

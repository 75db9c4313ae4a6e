/**
 * Cost of an MQTT session inside the real XS engine, in xsnap's meter figures (deterministic for
 * one build, unlike times): connect, subscribe and 100 QoS 1 publishes answered by PUBACKs,
 * against an idle crank that only collects garbage. Run alone: `npm run bench -- xs-session`.
 */
import { bundleXsScript } from "../scripts/build";
import { XsWorker, parseJson, type XsMeter } from "../simulator/xs-engine/worker";
import type { BenchReport } from "./run";

const publishes = 100;

interface SessionOutcome {
  state: string;
  subscribed: boolean;
  acked: number;
  errors: string[];
}

export async function run(): Promise<BenchReport> {
  const worker = new XsWorker({ name: "xs-session" });
  worker.start();
  try {
    const load = await worker.evaluate(await bundleXsScript("bench/xs-session-entry.ts", "xsSession"));
    const idle = await worker.evaluate("xsSession.idle()");
    const session = await worker.evaluate(`xsSession.session(${publishes})`);
    const outcome = parseJson<SessionOutcome>(session.reply);
    if (
      outcome.state !== "connected" ||
      !outcome.subscribed ||
      outcome.acked !== publishes ||
      outcome.errors.length > 0
    )
      throw new Error(`the session did not complete in XS: ${JSON.stringify(outcome)}`);
    const retained = await worker.evaluate("xsSession.retained()");

    const figures = (meter: XsMeter) => ({ compute: meter.compute, heapSlots: meter.currentHeapCount });
    const sessionCompute = session.meter.compute - idle.meter.compute;
    const retainedSlots = retained.meter.currentHeapCount - idle.meter.currentHeapCount;
    const results = {
      publishes,
      load: figures(load.meter),
      idle: figures(idle.meter),
      session: figures(session.meter),
      retainedAfterGc: figures(retained.meter),
      sessionComputeOverIdle: sessionCompute,
      sessionComputePerPublish: Math.round(sessionCompute / publishes),
      retainedSlotsOverIdle: retainedSlots,
      allocatedBytes: retained.meter.allocate,
    };
    const summary =
      `connect + subscribe + ${publishes} QoS 1 publishes: ${sessionCompute} compute over idle ` +
      `(${results.sessionComputePerPublish} per publish); live client retains ${retainedSlots} heap slots over idle ` +
      `(${session.meter.currentHeapCount - idle.meter.currentHeapCount} before gc)`;
    return { name: "xs-session", results, summary };
  } finally {
    await worker.close();
  }
}

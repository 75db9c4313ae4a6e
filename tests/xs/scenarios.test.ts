/**
 * Runs every portable scenario inside the real XS engine, one jest test per scenario registered in
 * Node (tests/scenarios.test.ts runs the same ones in Node). A missing engine fails every test.
 */
import { allScenarios } from "../scenarios/index";
import { bundleXsScript } from "../../scripts/build";
import { XsWorker, parseJson } from "../../simulator/xs-engine/worker";
import type { ScenarioReport } from "./scenario-entry";

/** The global scenario-entry.ts defines inside XS. */
const scenarioGlobal = "provisioScenarios";

/** Far above any scenario's need (the heaviest use about 2.5e8), low enough to stop a runaway loop. */
const meteringLimit = 1e9;
const timeoutMs = 180_000;

interface XsRun {
  names: string[];
  reports: Map<string, ScenarioReport>;
  /** The scenario during which the engine failed; later ones did not run. */
  stoppedAt?: string;
}

async function runScenariosInXs(): Promise<XsRun> {
  const reports = new Map<string, ScenarioReport>();
  const worker = new XsWorker({
    name: "scenarios",
    meteringLimit,
    onCommand(request) {
      const report = parseJson<ScenarioReport>(request);
      if (reports.has(report.name)) throw new Error(`scenario ${report.name} reported twice`);
      reports.set(report.name, report);
      return new Uint8Array(0);
    },
  });
  worker.start();
  try {
    await worker.evaluate(await bundleXsScript("tests/xs/scenario-entry.ts", scenarioGlobal));
    const { reply } = await worker.evaluate(`${scenarioGlobal}.names()`);
    const names = parseJson<string[]>(reply);
    for (const name of names) {
      try {
        await worker.evaluate(`${scenarioGlobal}.run(${JSON.stringify(name)})`);
      } catch (error) {
        reports.set(name, { name, error: `the XS engine failed during it: ${(error as Error).message}` });
        return { names, reports, stoppedAt: name };
      }
    }
    return { names, reports };
  } finally {
    await worker.close();
  }
}

const nodeNames = allScenarios().map((s) => s.name);
let xsRun: Promise<XsRun>;

beforeAll(() => {
  xsRun = runScenariosInXs();
  // Each test awaits it and reports the failure; this only keeps Node from calling it unhandled.
  xsRun.catch(() => {});
});

test(
  "XS runs exactly the scenarios registered in Node",
  async () => {
    const { names } = await xsRun;
    expect(nodeNames.length).toBeGreaterThan(0);
    expect([...names].sort()).toEqual([...nodeNames].sort());
  },
  timeoutMs,
);

for (const name of nodeNames) {
  test(
    `XS: ${name}`,
    async () => {
      const { names, reports, stoppedAt } = await xsRun;
      if (!names.includes(name)) throw new Error(`scenario "${name}" is not registered in the XS bundle`);
      const report = reports.get(name);
      if (!report && stoppedAt) throw new Error(`not run: the XS engine failed during "${stoppedAt}"`);
      if (!report) throw new Error(`scenario "${name}" never settled in XS: it awaits something no one triggers`);
      if (report.error !== undefined) throw new Error(`failed in XS: ${report.error}`);
    },
    timeoutMs,
  );
}

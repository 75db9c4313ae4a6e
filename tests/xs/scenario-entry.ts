/**
 * Runs inside xsnap, bundled by tests/xs/scenarios.test.ts into the global
 * `provisioScenarios`. The host evaluates `provisioScenarios.run(name)` once per scenario; the
 * outcome comes up through xsnap's issueCommand as JSON, so a scenario that never settles (it
 * awaits a timer nobody fires) is seen by the host as a missing report, not as a pass.
 */
import { allScenarios } from "../scenarios/index";
import { strictCheck } from "../scenarios/harness";
import { jsonBuffer, sendToHost } from "../../simulator/xs-engine/inside";

export interface ScenarioReport {
  name: string;
  /** Absent when the scenario passed. */
  error?: string;
}

/** The registered names, as the reply of the evaluation that calls it. */
export function names(): ArrayBuffer {
  return jsonBuffer(allScenarios().map((s) => s.name));
}

export function run(name: string): void {
  const found = allScenarios().find((s) => s.name === name);
  const report = (error?: string) => sendToHost(error === undefined ? { name } : { name, error });
  if (!found) return void report("no scenario of that name in the XS bundle");
  Promise.resolve()
    .then(() => found.run(strictCheck))
    .then(
      () => report(),
      (e: unknown) => report(e instanceof Error ? `${e.name}: ${e.message}` : String(e)),
    );
}

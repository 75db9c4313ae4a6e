/** Runs the portable scenarios in Node; tests/xs/scenarios.test.ts runs the same ones in XS. */
import { allScenarios } from "./scenarios/index";
import { strictCheck } from "./scenarios/harness";

for (const s of allScenarios()) {
  test(s.name, async () => {
    await s.run(strictCheck);
  });
}

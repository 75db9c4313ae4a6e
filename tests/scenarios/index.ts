/** Every portable scenario file; both runners (jest in Node, simulator/xs-engine in XS) load this. */
import "./mqtt-codec.scenario";
import "./utf8.scenario";
import "./mqtt-client.scenario";
import "./ticks.scenario";
import "./crypto.scenario";
import "./nacl.scenario";
import "./provisioning.scenario";
import "./device-client.scenario";
import "./registration.scenario";
import "./refresh-faults.scenario";
import "./storage.scenario";

export { allScenarios, runAll } from "./harness";

/** The NOR flash model lives with the simulator (the desktop device persists it to a file). */
export {
  PowerCutError,
  SimulatedNorFlash,
  type SimulatedNorFlashOptions,
} from "../../targets/node/simulated-nor-flash";

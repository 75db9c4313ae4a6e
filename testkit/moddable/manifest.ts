/** The root manifest.json as the tests read it: mcconfig's input, parsed once. */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { repoRoot } from "../../scripts/build";
import type { DeviceCreation } from "../../simulator/xs-engine/worker";

export interface Manifest {
  include: string[];
  modules: Record<string, string | string[]>;
  preload: string[];
  resources?: Record<string, string[]>;
  config: Record<string, unknown>;
  creation: DeviceCreation & { static: number; main: string };
  platforms: Record<string, Record<string, unknown>>;
}

export const manifest = JSON.parse(readFileSync(resolve(repoRoot, "manifest.json"), "utf8")) as Manifest;

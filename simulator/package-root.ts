/**
 * The project's folder (where its package.json is), found from wherever this code runs: the
 * TypeScript sources, or the compiled CLI in dist/js. What the simulator loads at run time (the
 * XS engine, the prebuilt device bundle) is named from here.
 */
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";

function findPackageRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, "package.json"))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${start}`);
  }
}

export const packageRoot = findPackageRoot(__dirname);

/**
 * The console's files as `npm run build` writes them (dist/console), read once: the platform
 * serves them itself, so the console needs no network beyond the platform. A platform run from a
 * checkout that was never built serves a page that says so.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { packageRoot } from "../package-root";

const files: Record<string, { name: string; type: string }> = {
  "/": { name: "index.html", type: "text/html; charset=utf-8" },
  "/console.js": { name: "console.js", type: "text/javascript; charset=utf-8" },
  "/console.css": { name: "console.css", type: "text/css; charset=utf-8" },
};

const loaded = new Map<string, Buffer>();

export const consoleFiles = {
  paths: Object.keys(files),
  get(path: string): { type: string; body: Buffer | string } {
    const file = files[path];
    let body = loaded.get(path);
    if (!body) {
      try {
        body = readFileSync(join(packageRoot, "dist/console", file.name));
        loaded.set(path, body);
      } catch {
        return { type: "text/plain; charset=utf-8", body: "The console is not built: run npm run build.\n" };
      }
    }
    return { type: file.type, body };
  },
};

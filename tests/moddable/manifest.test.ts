/**
 * Keeps manifest.json honest without mcconfig: every path it names exists once built, its module
 * names are the bundles scripts/build-moddable.ts makes, config/creation/platforms are
 * well-formed, and the bundles import only Moddable modules the manifest's includes provide.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import ts from "typescript";
import { buildModdable, bundleModdable, moddableBundles } from "../../scripts/build-moddable";
import { repoRoot } from "../../scripts/build";

interface Manifest {
  include: string[];
  modules: Record<string, string | string[]>;
  preload: string[];
  config: Record<string, unknown>;
  creation: { static: number; chunk: { initial: number; incremental: number }; heap: { initial: number; incremental: number }; stack: number; main: string };
  platforms: Record<string, Record<string, unknown>>;
}

const manifest = JSON.parse(readFileSync(resolve(repoRoot, "manifest.json"), "utf8")) as Manifest;

/** Which Moddable SDK manifest provides each runtime module the device code may import. */
const providers: Record<string, string> = {
  time: "$(MODDABLE)/examples/manifest_base.json",
  timer: "$(MODDABLE)/examples/manifest_base.json",
  Resource: "$(MODDABLE)/examples/manifest_base.json",
  "mc/config": "$(MODDABLE)/examples/manifest_base.json",
  socket: "$(MODDABLE)/examples/manifest_net.json",
  net: "$(MODDABLE)/examples/manifest_net.json",
  sntp: "$(MODDABLE)/examples/manifest_net.json",
  wifi: "$(MODDABLE)/examples/manifest_net.json",
  preference: "$(MODDABLE)/modules/files/preference/manifest.json",
  flash: "$(MODDABLE)/modules/files/flash/manifest.json",
  securesocket: "$(MODDABLE)/modules/crypt/tls.json",
};

const positiveInteger = (value: unknown) => Number.isInteger(value) && (value as number) > 0;

describe("manifest.json", () => {
  beforeAll(() => buildModdable());

  test("every local module path exists after the build, and the modules are exactly the bundles", () => {
    const named = Object.entries(manifest.modules).filter(([name]) => name !== "*");
    expect(named.map(([name]) => name).sort()).toEqual(moddableBundles.map((b) => b.name).sort());
    for (const [name, path] of named) {
      const bundle = moddableBundles.find((b) => b.name === name)!;
      expect(path).toBe(`./dist/moddable/${bundle.output.replace(/\.js$/, "")}`);
      expect(existsSync(resolve(repoRoot, `${path}.js`))).toBe(true);
    }
  });

  test("the core and the adapters are preloaded (their objects in flash), the app is not", () => {
    // Preloading runs a module at build time: the core imports nothing and neither module calls a
    // native function at its top level, which preloading forbids.
    expect([...manifest.preload].sort()).toEqual(["provisio-moddable", "provisio-sdk"]);
    for (const name of manifest.preload) expect(Object.keys(manifest.modules)).toContain(name);
    const adapters = resolve(repoRoot, "targets/moddable");
    for (const file of readdirSync(adapters).filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts") && f !== "main.ts")) {
      const source = ts.createSourceFile(file, readFileSync(resolve(adapters, file), "utf8"), ts.ScriptTarget.ES2022, true);
      const callsAtTopLevel = source.statements
        .filter((statement) => !ts.isFunctionDeclaration(statement) && !ts.isClassDeclaration(statement))
        .filter((statement) => {
          let calls = false;
          const visit = (node: ts.Node): void => {
            if (ts.isCallExpression(node) || ts.isNewExpression(node)) calls = true;
            else if (!ts.isFunctionLike(node)) ts.forEachChild(node, visit);
          };
          visit(statement);
          return calls;
        })
        .map((statement) => `${file}: ${statement.getText().slice(0, 60)}`);
      expect(callsAtTopLevel).toEqual([]);
    }
  });

  test("includes are Moddable SDK manifests", () => {
    for (const include of manifest.include) expect(include).toMatch(/^\$\(MODDABLE\)\/[\w/.-]+\.json$/);
  });

  test("config holds the app's settings with the right types", () => {
    const { config } = manifest;
    for (const key of ["brokerHost", "provisioningToken", "deviceId", "caCertificate", "sntp", "storePartition", "stream"]) expect(typeof config[key]).toBe("string");
    expect(config.checkHostName).toBe(true);
    expect(Number.isInteger(config.brokerPort) && (config.brokerPort as number) < 65536).toBe(true);
    expect(positiveInteger(config.sendIntervalMs) && positiveInteger(config.restartDelayMs)).toBe(true);
    expect(config.deviceId === "" || /^[0-9A-Za-z_.-]{4,90}$/.test(config.deviceId as string)).toBe(true);
  });

  test("creation sizes are well-formed and fit an ESP32's JS heap", () => {
    const { creation } = manifest;
    for (const size of [creation.chunk.initial, creation.heap.initial, creation.stack]) expect(positiveInteger(size)).toBe(true);
    // About 160 KB of JS heap on common ESP32 targets: chunks plus 16-byte slots must fit.
    expect(creation.chunk.initial + creation.heap.initial * 16).toBeLessThanOrEqual(160 * 1024);
    expect(Object.keys(manifest.modules)).toContain(creation.main);
  });

  test("platforms cover esp32 and the lin/mac simulator, and refuse the rest", () => {
    for (const platform of ["esp32", "lin", "mac"]) expect(typeof manifest.platforms[platform]).toBe("object");
    expect(typeof manifest.platforms["..."]?.error).toBe("string");
  });

  test("the bundles import only their siblings and Moddable modules the includes provide", async () => {
    const own = moddableBundles.map((b) => b.name as string);
    const modules = await bundleModdable();
    // The core is portable: it imports nothing; the adapters and the app import the rest.
    expect(modules.find((m) => m.name === "provisio-sdk")!.imports).toEqual([]);
    expect(modules.flatMap((m) => m.imports)).toEqual(expect.arrayContaining(["socket", "timer", "preference", "provisio-sdk", "provisio-moddable"]));
    for (const module of modules) {
      for (const name of module.imports) {
        if (own.includes(name)) continue;
        expect({ module: module.name, name, provider: providers[name] && manifest.include.includes(providers[name]) }).toEqual({ module: module.name, name, provider: true });
      }
    }
  });
});

/**
 * Keeps manifest.json honest without mcconfig, resolving it for each platform as mcconfig does
 * (the top level, then the platform's own section): every path it names exists once built, its
 * module names are the bundles scripts/build-moddable.ts makes for that platform, and every
 * Moddable module a bundle imports is provided there by an included Moddable manifest. What
 * Moddable 8.2.3 showed is a rule here: `flash` exists for esp, esp32 and nrf52 only; a preloaded
 * module that imports `preference` breaks preferences on lin; xsl freezes only `const` bindings.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, extname, join, resolve } from "node:path";
import { createCa, createServerCert } from "../../simulator/certs/development-ca";
import ts from "typescript";
import {
  buildModdable,
  bundleModdable,
  moddableBundles,
  moddableNativeModules,
  type BuiltModule,
  type ModdablePlatform,
} from "../../scripts/build-moddable";
import { repoRoot } from "../../scripts/build";
import { topLevelVariables } from "../../scripts/top-level-const";
import { manifest } from "../../testkit/moddable/manifest";

const platforms: ModdablePlatform[] = ["esp32", "lin", "mac"];

/** Which Moddable SDK manifest provides each runtime module the device code may import, and on which platforms. */
const providers: Record<string, { manifest: string; platforms: readonly string[] }> = {
  time: { manifest: "$(MODDABLE)/examples/manifest_base.json", platforms },
  timer: { manifest: "$(MODDABLE)/examples/manifest_base.json", platforms },
  Resource: { manifest: "$(MODDABLE)/examples/manifest_base.json", platforms },
  "mc/config": { manifest: "$(MODDABLE)/examples/manifest_base.json", platforms },
  socket: { manifest: "$(MODDABLE)/examples/manifest_net.json", platforms },
  net: { manifest: "$(MODDABLE)/examples/manifest_net.json", platforms },
  sntp: { manifest: "$(MODDABLE)/examples/manifest_net.json", platforms },
  wifi: { manifest: "$(MODDABLE)/examples/manifest_net.json", platforms },
  preference: { manifest: "$(MODDABLE)/modules/files/preference/manifest.json", platforms },
  file: { manifest: "$(MODDABLE)/modules/files/file/manifest.json", platforms },
  // modules/files/flash/manifest.json defines `flash` for esp, esp32 and nrf52 only.
  flash: { manifest: "$(MODDABLE)/modules/files/flash/manifest.json", platforms: ["esp32"] },
  securesocket: { manifest: "$(MODDABLE)/modules/crypt/tls.json", platforms },
  // tls.json includes tls_common.json, which includes modules/crypt/digest/manifest.json.
  crypt: { manifest: "$(MODDABLE)/modules/crypt/tls.json", platforms },
};

interface Resolved {
  include: string[];
  modules: Record<string, string>;
  preload: string[];
}

/** The manifest as mcconfig reads it for `platform`: the platform's section merged into the top level. */
function resolveFor(platform: ModdablePlatform): Resolved {
  const section = manifest.platforms[platform] as {
    include?: string[];
    modules?: Record<string, string>;
    preload?: string[];
  };
  const modules = { ...manifest.modules, ...section.modules } as Record<string, string | string[]>;
  delete modules["*"];
  return {
    include: [...manifest.include, ...(section.include ?? [])],
    modules: modules as Record<string, string>,
    preload: [...manifest.preload, ...(section.preload ?? [])],
  };
}

const positiveInteger = (value: unknown) => Number.isInteger(value) && (value as number) > 0;

/** A module esbuild makes (not one of the native modules, which mcconfig takes as they are). */
const isBundle = (name: string) => moddableBundles.some((bundle) => bundle.name === name);

describe("manifest.json", () => {
  let built: BuiltModule[];
  beforeAll(async () => {
    await buildModdable();
    built = await bundleModdable();
  });

  /** The bundle `name` resolves to on `platform`. */
  const bundleOf = (platform: ModdablePlatform, name: string) =>
    built.find((m) => m.name === name && m.platforms.includes(platform))!;

  for (const platform of platforms)
    describe(`for ${platform}`, () => {
      const resolved = resolveFor(platform);

      test("the modules are exactly the bundles and native modules for this platform, and each path exists once built", () => {
        const wanted = moddableBundles.filter((b) => (b.platforms as readonly string[]).includes(platform));
        const natives = moddableNativeModules.filter((n) => (n.platforms as readonly string[]).includes(platform));
        expect(Object.keys(resolved.modules).sort()).toEqual([...wanted, ...natives].map((m) => m.name).sort());
        for (const bundle of wanted) {
          expect(resolved.modules[bundle.name]).toBe(`./dist/moddable/${bundle.output.replace(/\.js$/, "")}`);
          expect(existsSync(resolve(repoRoot, `${resolved.modules[bundle.name]}.js`))).toBe(true);
        }
        // mcconfig takes every file of the path's stem: the module's JavaScript and its C.
        for (const native of natives) {
          expect(resolved.modules[native.name]).toBe(`./${native.path}`);
          for (const extension of [".js", ".c"])
            expect(existsSync(resolve(repoRoot, native.path + extension))).toBe(true);
        }
      });

      test("every Moddable module a bundle imports is provided here by an included manifest", () => {
        for (const name of Object.keys(resolved.modules).filter(isBundle))
          for (const imported of bundleOf(platform, name).imports) {
            if (imported in resolved.modules) continue;
            const provider = providers[imported];
            const provided =
              !!provider && provider.platforms.includes(platform) && resolved.include.includes(provider.manifest);
            expect({ module: name, imported, provided }).toEqual({ module: name, imported, provided: true });
          }
      });

      test("preloaded modules keep no top-level binding in RAM (xsl freezes const only)", () => {
        for (const name of resolved.preload.filter(isBundle)) {
          expect(Object.keys(resolved.modules)).toContain(name);
          expect({ name, variables: topLevelVariables(bundleOf(platform, name).code) }).toEqual({
            name,
            variables: [],
          });
        }
      });
    });

  test("on lin and mac no preloaded module reaches `preference` (preloaded there, Moddable's save fails silently)", () => {
    for (const platform of ["lin", "mac"] as const) {
      const resolved = resolveFor(platform);
      const reaches = (name: string, seen = new Set<string>()): boolean => {
        if (seen.has(name)) return false;
        seen.add(name);
        if (!isBundle(name)) return false;
        const imports = bundleOf(platform, name).imports;
        return (
          imports.includes("preference") ||
          imports.some((imported) => imported in resolved.modules && reaches(imported, seen))
        );
      };
      for (const name of resolved.preload)
        expect({ platform, name, reachesPreference: reaches(name) }).toEqual({
          platform,
          name,
          reachesPreference: false,
        });
    }
  });

  test("the core and the adapters are preloaded everywhere, the ESP32's platform module there; the app never", () => {
    expect(resolveFor("esp32").preload.sort()).toEqual([
      "provisio-entropy",
      "provisio-moddable",
      "provisio-platform",
      "provisio-sdk",
    ]);
    expect(resolveFor("lin").preload.sort()).toEqual(["provisio-entropy", "provisio-moddable", "provisio-sdk"]);
    // Preloading runs a module at build time: no module bundled into a preloaded one may call
    // anything at its top level (a native call is forbidden then; Math.random or Date.now baked
    // in), but Object.freeze, which keeps a preloaded object in flash (xsl warns "not frozen").
    const adapters = resolve(repoRoot, "targets/moddable");
    for (const file of readdirSync(adapters).filter(
      (f) => f.endsWith(".ts") && !f.endsWith(".d.ts") && f !== "main.ts",
    )) {
      const source = ts.createSourceFile(
        file,
        readFileSync(resolve(adapters, file), "utf8"),
        ts.ScriptTarget.ES2022,
        true,
      );
      const callsAtTopLevel = source.statements
        .filter((statement) => !ts.isFunctionDeclaration(statement) && !ts.isClassDeclaration(statement))
        .filter((statement) => {
          let calls = false;
          const visit = (node: ts.Node): void => {
            const freezes = ts.isCallExpression(node) && node.expression.getText() === "Object.freeze";
            if ((ts.isCallExpression(node) && !freezes) || ts.isNewExpression(node)) calls = true;
            else if (!ts.isFunctionLike(node)) ts.forEachChild(node, visit);
          };
          visit(statement);
          return calls;
        })
        .map((statement) => `${file}: ${statement.getText().slice(0, 60)}`);
      expect(callsAtTopLevel).toEqual([]);
    }
  });

  test("the core imports only the native code its device replacements bring (deviceReplacements); the rest only siblings and Moddable modules", () => {
    expect(built.find((m) => m.name === "provisio-sdk")!.imports).toEqual(["crypt"]);
    const names = new Set([...moddableBundles, ...moddableNativeModules].map((m) => m.name as string));
    for (const module of built)
      for (const imported of module.imports) expect(names.has(imported) || imported in providers).toBe(true);
  });

  test("includes are Moddable SDK manifests", () => {
    for (const platform of platforms)
      for (const include of resolveFor(platform).include) expect(include).toMatch(/^\$\(MODDABLE\)\/[\w/.-]+\.json$/);
  });

  test("config holds the app's settings with the right types", () => {
    const { config } = manifest;
    for (const key of [
      "brokerHost",
      "provisioningToken",
      "deviceId",
      "caCertificate",
      "sntp",
      "storePartition",
      "stream",
    ])
      expect(typeof config[key]).toBe("string");
    expect(Number.isInteger(config.brokerPort) && (config.brokerPort as number) < 65536).toBe(true);
    expect(positiveInteger(config.sendIntervalMs) && positiveInteger(config.restartDelayMs)).toBe(true);
    expect(config.deviceId === "" || /^[0-9A-Za-z_.-]{4,90}$/.test(config.deviceId as string)).toBe(true);
  });

  test("creation sizes are well-formed and fit an ESP32's JS heap, the stack included", () => {
    const { creation } = manifest;
    for (const size of [creation.chunk.initial, creation.heap.initial, creation.stack])
      expect(positiveInteger(size)).toBe(true);
    // About 160 KB of JS heap on common ESP32 targets: chunks, plus 16-byte slots for the heap and the stack.
    expect(creation.chunk.initial + (creation.heap.initial + creation.stack) * 16).toBeLessThanOrEqual(160 * 1024);
    expect(Object.keys(manifest.modules)).toContain(creation.main);
  });

  test("platforms cover esp32 and the lin/mac simulator, and refuse the rest", () => {
    for (const platform of platforms) expect(typeof manifest.platforms[platform]).toBe("object");
    expect(typeof manifest.platforms["..."]?.error).toBe("string");
  });

  test("the resources recipe of targets/moddable/README.md puts the CA certificate in the firmware and no private key", () => {
    const readme = readFileSync(resolve(repoRoot, "targets/moddable/README.md"), "utf8");
    const recipe = /```json\n("resources":[^`]+)```/.exec(readme);
    expect(recipe).not.toBeNull();
    const resources = (JSON.parse(`{${recipe![1]}}`) as { resources: Record<string, string[]> }).resources["*"];
    const dir = mkdtempSync(join(tmpdir(), "provisio-resources-"));
    try {
      // What `provisio certs create --dir certs` writes, under the app's directory.
      const certs = join(dir, "certs");
      createServerCert({ ca: createCa({ dir: certs }), dir: certs, hosts: ["platform.local"] });
      // mcconfig's resource rule: a path with an extension is that file; without one, every file with that stem.
      const embedded = resources.flatMap((path) => {
        const folder = join(dir, dirname(path));
        const name = basename(path);
        return readdirSync(folder)
          .filter((file) => (extname(name) ? file === name : basename(file, extname(file)) === name))
          .map((file) => join(folder, file));
      });
      expect(embedded.map((file) => basename(file))).toEqual(["ca.der"]);
      for (const file of embedded) expect(readFileSync(file).includes("PRIVATE KEY")).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

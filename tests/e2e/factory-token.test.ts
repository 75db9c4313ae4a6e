/**
 * Tokens written at the factory (issue 16): the file a factory makes per device (the CSV of
 * Espressif's NVS partition generator, which the firmware reads back as preferences) is what
 * `provisio device --token-file` takes, so one build serves every device.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FactoryFileError, parseFactoryFile } from "../../simulator/device/factory-file";
import { provisio, shownCode, whileRunning } from "../../testkit/e2e/cli-process";
import { startTestPlatform, type TestPlatform } from "../../testkit/node/platform";
import { approveCode, createToken } from "../../testkit/e2e/technician";

jest.setTimeout(60000);

const csv = (...rows: string[]) => ["key,type,encoding,value", "provisio,namespace,,", ...rows].join("\n") + "\n";

describe("the factory file", () => {
  test("gives the token and the Device ID of the provisio namespace", () => {
    const text =
      csv("token,data,string,pt_abc", "deviceId,data,string,pump-0042") +
      "other,namespace,,\ntoken,data,string,pt_other\n";
    expect(parseFactoryFile(text, "f.csv")).toEqual({ provisioningToken: "pt_abc", deviceId: "pump-0042" });
    expect(parseFactoryFile(csv("token,data,string,pt_abc"), "f.csv")).toEqual({ provisioningToken: "pt_abc" });
  });

  test.each([
    ["no token entry", csv(), /no "token" entry in the "provisio" namespace/],
    ["no namespace", "token,data,string,pt_abc\n", /no "token" entry/],
    ["a bad Device ID", csv("token,data,string,pt_abc", "deviceId,data,string,no"), /deviceId must be 4-90 characters/],
    ["a value not a string", csv("token,data,hex2bin,00ff"), /f.csv:3: only string data entries/],
    ["a comma in a value", csv("token,data,string,pt_a,b"), /f.csv:3: expected key,type,encoding,value/],
    ["20000 bytes", "x".repeat(20000), /more than 16384 bytes/],
  ])("refuses a file with %s, with a clear message", (_label, text, message) => {
    expect(() => parseFactoryFile(text, "f.csv")).toThrow(FactoryFileError);
    expect(() => parseFactoryFile(text, "f.csv")).toThrow(message);
  });
});

describe("provisio device --token-file", () => {
  let platform: TestPlatform;
  const dir = mkdtempSync(join(tmpdir(), "provisio-factory-"));
  beforeAll(async () => {
    platform = await startTestPlatform();
  });
  afterAll(async () => {
    await platform.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a device provisions with the token and Device ID of its factory file", async () => {
    const file = join(dir, "pump-0042.csv");
    writeFileSync(
      file,
      csv(`token,data,string,${await createToken(platform)}`, "deviceId,data,string,factory-pump-0042"),
    );
    const run = provisio(
      ["device", "--broker", platform.mqttUrl, "--token-file", file, "--state", join(dir, "state")].concat([
        "--engine",
        "node",
        "--send",
        "1",
      ]),
    );
    await approveCode(platform, (await whileRunning("a code", () => shownCode(run), run))!);
    expect({ exit: await run.exited, output: run.output() }).toMatchObject({ exit: 0 });
    expect(run.output()).toContain("as ws_default:factory-pump-0042");
  });

  test("a usage error for a token given twice, a Device ID given twice, or a file that cannot be read", async () => {
    const file = join(dir, "both.csv");
    writeFileSync(file, csv("token,data,string,pt_abc", "deviceId,data,string,pump-0042"));
    const cases: [string[], string][] = [
      [["--token-file", file, "--token", "pt_abc"], "give --token or --token-file, not both"],
      [["--token-file", file, "--device-id", "pump-0043"], "the --token-file names the Device ID"],
      [["--token-file", join(dir, "missing.csv")], "--token-file: cannot read"],
    ];
    for (const [args, message] of cases) {
      const run = provisio(["device", "--broker", platform.mqttUrl, ...args]);
      expect({ exit: await run.exited, message: run.output().includes(message) }).toEqual({ exit: 2, message: true });
    }
  });
});

/** The device build stays within its size budgets (scripts/budgets.ts): flash pays for every byte. */
import { bundleSdk } from "../scripts/build";
import { sizeBudgets } from "../scripts/budgets";
import { bundleModdable, esp32DeviceSide } from "../scripts/build-moddable";

test(`the MQTT part of the core is under ${sizeBudgets.mqttBytes} bytes minified`, async () => {
  expect(Buffer.byteLength(await bundleSdk("sdk/mqtt/index.ts"))).toBeLessThan(sizeBudgets.mqttBytes);
});

test(`what the ESP32 loads besides the app is under ${sizeBudgets.deviceSideBytes} bytes minified`, async () => {
  const deviceSide = esp32DeviceSide(await bundleModdable());
  expect(deviceSide.map((m) => m.name).sort()).toEqual(["provisio-moddable", "provisio-platform", "provisio-sdk"]);
  expect(deviceSide.reduce((bytes, m) => bytes + Buffer.byteLength(m.code), 0)).toBeLessThan(
    sizeBudgets.deviceSideBytes,
  );
});

test(`the lin build's four modules come to under ${sizeBudgets.deviceBytecodeBytes} bytes of XS bytecode`, async () => {
  const lin = (await bundleModdable()).filter((m) => m.platforms.includes("lin"));
  expect(lin.map((m) => m.name).sort()).toEqual(["main", "provisio-moddable", "provisio-platform", "provisio-sdk"]);
  const minified = lin.reduce((bytes, m) => bytes + Buffer.byteLength(m.code), 0);
  expect(minified * sizeBudgets.xsBytecodePerMinifiedByte).toBeLessThan(sizeBudgets.deviceBytecodeBytes);
});

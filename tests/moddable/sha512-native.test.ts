/**
 * The device build's SHA-512 (targets/moddable/sha512.ts, Moddable's `crypt` Digest in place of the
 * core's JavaScript) inside XS, on the fake of `crypt`, against Node's: every length around SHA-512's
 * padding boundaries, and views that start inside their buffer, as the core passes them.
 */
import { createHash } from "node:crypto";
import { bundleModdableOnFakes } from "../../scripts/build-moddable";
import { XsWorker, parseJson } from "../../simulator/xs-engine/worker";

let worker: XsWorker;

beforeAll(async () => {
  worker = new XsWorker({ name: "sha512-native" });
  worker.start();
  await worker.evaluate(
    await bundleModdableOnFakes("targets/moddable/sha512.ts", "nativeSha512", {
      crypt: "testkit/moddable/fakes/crypt.ts",
    }),
  );
});

afterAll(() => worker?.close());

test("SHA-512 of every length from 0 to 260 bytes, and of views at an offset, is Node's", async () => {
  const { reply } = await worker.evaluate(`(() => {
    const digests = [];
    const buffer = new Uint8Array(300).map((_, i) => (i * 7 + 3) & 255);
    for (let length = 0; length <= 260; length++) digests.push(Array.from(nativeSha512.sha512(buffer.slice(0, length))));
    for (const offset of [1, 13, 40]) digests.push(Array.from(nativeSha512.sha512(buffer.subarray(offset, offset + 32))));
    return new TextEncoder().encode(JSON.stringify(digests)).buffer;
  })()`);
  const digests = parseJson<number[][]>(reply);
  const buffer = Buffer.from(new Uint8Array(300).map((_, i) => (i * 7 + 3) & 255));
  const expected = [
    ...Array.from({ length: 261 }, (_, length) => buffer.subarray(0, length)),
    ...[1, 13, 40].map((offset) => buffer.subarray(offset, offset + 32)),
  ].map((message) => [...createHash("sha512").update(message).digest()]);
  expect(digests).toEqual(expected);
});

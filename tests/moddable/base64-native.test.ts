/**
 * The device build's base64url (targets/moddable/base64url.ts, XS's Uint8Array.toBase64 and
 * fromBase64 in place of the core's JavaScript) inside XS, on the fake of those built-ins, against
 * Buffer, held to the core's strictness: exactly the texts an encoder makes decode, nothing else.
 */
import fc from "fast-check";
import { bundleModdableOnFakes } from "../../scripts/build-moddable";
import { XsWorker, parseJson } from "../../simulator/xs-engine/worker";

let worker: XsWorker;

beforeAll(async () => {
  worker = new XsWorker({ name: "base64-native" });
  worker.start();
  await worker.evaluate(await bundleModdableOnFakes("testkit/moddable/fakes/base64-builtins.ts", "builtins", {}));
  await worker.evaluate(await bundleModdableOnFakes("targets/moddable/base64url.ts", "nativeBase64", {}));
});

afterAll(() => worker?.close());

async function inXs<T>(expression: string): Promise<T> {
  const { reply } = await worker.evaluate(`(() => new TextEncoder().encode(JSON.stringify(${expression})).buffer)()`);
  return parseJson<T>(reply);
}

test("every length from 0 to 100 encodes as Buffer does and decodes back", async () => {
  const results = await inXs<{ text: string; back: number[] }[]>(`Array.from({ length: 101 }, (_, length) => {
    const bytes = new Uint8Array(length).map((_, i) => (i * 37 + length) & 255);
    const text = nativeBase64.base64urlEncode(bytes);
    return { text, back: Array.from(nativeBase64.base64urlDecode(text)) };
  })`);
  results.forEach(({ text, back }, length) => {
    const bytes = Buffer.from(new Uint8Array(length).map((_, i) => (i * 37 + length) & 255));
    expect(text).toBe(bytes.toString("base64url"));
    expect(Buffer.from(back)).toEqual(bytes);
  });
});

test("decoding accepts exactly the texts Buffer would encode, with Buffer's bytes", async () => {
  const characters = [..."ABCXYZabcxyz0189-_", "=", "+", "/", " ", "\n", "\t", ".", "é", "\u0000"];
  const texts = fc.sample(fc.string({ unit: fc.constantFrom(...characters), maxLength: 24 }), {
    numRuns: 3000,
    seed: 26,
  });
  texts.push("", "A", "AA", "AB", "AAA", "AAB", "AA==", "AAA=", "A===", " AAAA", "AAAA\n", "-_-_");
  const decoded = await inXs<(number[] | null)[]>(
    `${JSON.stringify(texts)}.map((text) => { const bytes = nativeBase64.base64urlDecode(text); return bytes ? Array.from(bytes) : null; })`,
  );
  texts.forEach((text, i) => {
    const canonical = /^[A-Za-z0-9_-]*$/.test(text) && Buffer.from(text, "base64url").toString("base64url") === text;
    expect({ text, decoded: decoded[i] }).toEqual({
      text,
      decoded: canonical ? [...Buffer.from(text, "base64url")] : null,
    });
  });
});

test("a value that is not a string decodes to nothing", async () => {
  expect(
    await inXs(`[42, null, undefined, {}, ["AAAA"]].map((value) => nativeBase64.base64urlDecode(value) === undefined)`),
  ).toEqual([true, true, true, true, true]);
});

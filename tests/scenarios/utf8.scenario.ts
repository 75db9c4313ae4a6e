import { utf8Decode, utf8Encode } from "../../sdk/utf8";
import { scenario } from "./harness";

scenario("utf8: encodes each length class at its boundaries", (check) => {
  const cases: [string, number[]][] = [
    ["", []],
    ["\u0000", [0x00]],
    ["\u007f", [0x7f]],
    ["\u0080", [0xc2, 0x80]],
    ["\u07ff", [0xdf, 0xbf]],
    ["\u0800", [0xe0, 0xa0, 0x80]],
    ["\ud7ff", [0xed, 0x9f, 0xbf]],
    ["\ue000", [0xee, 0x80, 0x80]],
    ["\uffff", [0xef, 0xbf, 0xbf]],
    ["\u{10000}", [0xf0, 0x90, 0x80, 0x80]],
    ["\u{1f600}", [0xf0, 0x9f, 0x98, 0x80]],
    ["\u{10ffff}", [0xf4, 0x8f, 0xbf, 0xbf]],
    ["a/é€😀", [0x61, 0x2f, 0xc3, 0xa9, 0xe2, 0x82, 0xac, 0xf0, 0x9f, 0x98, 0x80]],
  ];
  for (const [text, bytes] of cases) {
    const encoded = utf8Encode(text);
    check.deepEqual(encoded, new Uint8Array(bytes), `encode ${JSON.stringify(text)}`);
    check.equal(utf8Decode(encoded), text, `decode ${bytes}`);
  }
});

scenario("utf8: lone surrogates encode as U+FFFD", (check) => {
  const cases: [string, number[]][] = [
    ["\ud800", [0xef, 0xbf, 0xbd]],
    ["\udfff", [0xef, 0xbf, 0xbd]],
    ["a\ud83d", [0x61, 0xef, 0xbf, 0xbd]],
    ["\ude00\ud83d", [0xef, 0xbf, 0xbd, 0xef, 0xbf, 0xbd]],
    ["\ud83d\ud83d\ude00", [0xef, 0xbf, 0xbd, 0xf0, 0x9f, 0x98, 0x80]],
  ];
  for (const [text, bytes] of cases)
    check.deepEqual(utf8Encode(text), new Uint8Array(bytes), `encode ${JSON.stringify(text)}`);
});

scenario("utf8: scalar values round-trip", (check) => {
  // Every scalar value of the BMP (the surrogates, which UTF-8 cannot carry, skipped), then every
  // 17th of the other planes (4-byte forms all take one path), in blocks of 256.
  for (let first = 0; first <= 0x10ffff; first += 256) {
    let text = "";
    let expectedLength = 0;
    for (let c = first; c < first + 256 && c <= 0x10ffff; c += c < 0x10000 ? 1 : 17) {
      if (c >= 0xd800 && c <= 0xdfff) continue;
      text += String.fromCodePoint(c);
      expectedLength += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    }
    const bytes = utf8Encode(text);
    check.equal(bytes.length, expectedLength, `encoded length from U+${first.toString(16)}`);
    check.ok(utf8Decode(bytes) === text, `round trip from U+${first.toString(16)}`);
  }
  check.equal(utf8Decode(utf8Encode("\u{10ffff}")), "\u{10ffff}", "the last scalar value");
});

scenario("utf8: decodes a range of a larger buffer", (check) => {
  const bytes = new Uint8Array([0xff, 0x61, 0xe2, 0x82, 0xac, 0x62, 0xff]);
  check.equal(utf8Decode(bytes, 1, 6), "a€b");
  check.equal(utf8Decode(bytes, 2, 5), "€");
  check.equal(utf8Decode(bytes, 3, 3), "");
  check.equal(utf8Decode(bytes, 1, 4), undefined, "a range that cuts a character");
  check.equal(utf8Decode(bytes, 3, 6), undefined, "a range that starts inside a character");
});

scenario("utf8: refuses every class of invalid input", (check) => {
  const invalid: [string, number[]][] = [
    ["lone continuation byte", [0x80]],
    ["lone last continuation byte", [0xbf]],
    ["continuation after ASCII", [0x61, 0x80]],
    ["overlong 2-byte NUL", [0xc0, 0x80]],
    ["overlong 2-byte U+007F", [0xc1, 0xbf]],
    ["overlong 3-byte", [0xe0, 0x80, 0x80]],
    ["overlong 3-byte U+07FF", [0xe0, 0x9f, 0xbf]],
    ["overlong 4-byte", [0xf0, 0x80, 0x80, 0x80]],
    ["overlong 4-byte U+FFFF", [0xf0, 0x8f, 0xbf, 0xbf]],
    ["high surrogate", [0xed, 0xa0, 0x80]],
    ["low surrogate", [0xed, 0xbf, 0xbf]],
    ["surrogate pair as CESU-8", [0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80]],
    ["above U+10FFFF", [0xf4, 0x90, 0x80, 0x80]],
    ["lead byte F5", [0xf5, 0x80, 0x80, 0x80]],
    ["lead byte F8 (5-byte form)", [0xf8, 0x88, 0x80, 0x80, 0x80]],
    ["byte FE", [0xfe]],
    ["byte FF", [0xff]],
    ["truncated 2-byte", [0xc3]],
    ["truncated 3-byte", [0xe2, 0x82]],
    ["truncated 4-byte", [0xf0, 0x9f, 0x98]],
    ["ASCII where a continuation belongs", [0xe2, 0x28, 0xa1]],
    ["lead byte where a continuation belongs", [0xc2, 0xc2, 0x80]],
    ["truncated before valid text", [0xe2, 0x82, 0x61]],
  ];
  for (const [name, bytes] of invalid) check.equal(utf8Decode(new Uint8Array(bytes)), undefined, name);
});

/** The text/event-stream parser of `provisio ops watch` and the tests: the WHATWG rules the API uses, bounded. */
import { EventStreamParser } from "../simulator/cli/event-stream";

test("events split anywhere across chunks, with CRLF, comments, ids and data on several lines", () => {
  const text =
    ': hello\r\n\r\nid: 1\r\nevent: operation-created\r\ndata: {"a":1}\r\n\r\nevent: x\ndata: one\ndata: two\n\ndata:plain\n\n';
  for (let split = 0; split <= text.length; split++) {
    const parser = new EventStreamParser();
    const events = [...parser.push(text.slice(0, split)), ...parser.push(text.slice(split))];
    expect(events).toEqual([
      { type: "operation-created", data: '{"a":1}', id: "1" },
      { type: "x", data: "one\ntwo", id: "1" },
      { type: "message", data: "plain", id: "1" },
    ]);
  }
});

test("an event that never ends is refused past 1 MiB, not kept", () => {
  const parser = new EventStreamParser();
  expect(() => {
    for (let i = 0; i < 200; i++) parser.push("data: " + "x".repeat(8192) + "\n");
  }).toThrow(/more than 1048576 bytes without ending an event/);
});

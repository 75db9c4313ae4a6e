/** The XS host against the real engine, and its netstring framing. */
import fc from "fast-check";
import { NetstringReader, encodeNetstring } from "../../simulator/xs-engine/netstring";
import { XsError, XsWorker } from "../../simulator/xs-engine/worker";

const text = (bytes: Uint8Array) => Buffer.from(bytes).toString("utf8");
const bytes = (value: string) => new Uint8Array(Buffer.from(value));

describe("netstrings", () => {
  test("messages come out whole and in order, whatever the chunking", () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }),
        fc.array(fc.nat(), { maxLength: 10 }),
        (messages, cuts) => {
          const stream = Buffer.concat(messages.map((m) => encodeNetstring(m)));
          const points = [...new Set(cuts.map((c) => c % (stream.length + 1)))].sort((a, b) => a - b);
          const reader = new NetstringReader(1000);
          const out: Uint8Array[] = [];
          let from = 0;
          for (const to of [...points, stream.length]) {
            reader.push(stream.subarray(from, to), (m) => out.push(Uint8Array.from(m)));
            from = to;
          }
          expect(out).toEqual(messages.map((m) => Uint8Array.from(m)));
        },
      ),
    );
  });

  test("malformed framing and oversized messages throw", () => {
    const push = (input: string) => () => new NetstringReader(100).push(bytes(input), () => {});
    expect(push("3:abc;")).toThrow(/missing ','/);
    expect(push("x:abc,")).toThrow(/not decimal/);
    expect(push(":abc,")).toThrow(/bad length/);
    expect(push("101:")).toThrow(/exceeds 100/);
    expect(push("1234")).toThrow(/too long/);
    expect(push("12")).not.toThrow();
  });
});

describe("XsWorker", () => {
  const served: string[] = [];
  const worker = new XsWorker({
    name: "worker-test",
    onCommand: (request) => {
      served.push(text(request));
      return bytes(`host saw ${text(request)}`);
    },
  });

  beforeAll(() => worker.start());
  afterAll(() => worker.close());

  test("evaluates in XS, without Node's globals, and returns an ArrayBuffer result with meter figures", async () => {
    const script = `new TextEncoder().encode([typeof setTimeout, typeof console, typeof Buffer, typeof process, [1, 2, 3].at(-1)].join()).buffer`;
    const { reply, meter } = await worker.evaluate(script);
    expect(text(reply)).toBe("undefined,undefined,undefined,undefined,3");
    expect(meter.compute).toBeGreaterThan(0);
    expect(meter.currentHeapCount).toBeGreaterThan(0);
    expect(meter.allocate).toBeGreaterThan(0);
  });

  test("meters more compute for more work", async () => {
    const small = await worker.evaluate("for (let i = 0; i < 10; i++);");
    const large = await worker.evaluate("for (let i = 0; i < 10000; i++);");
    expect(large.meter.compute).toBeGreaterThan(small.meter.compute * 100);
  });

  test("a command issued from XS is answered by the host while XS waits", async () => {
    const { reply } = await worker.evaluate(
      `new TextEncoder().encode("XS got: " + new TextDecoder().decode(issueCommand(new TextEncoder().encode("ping").buffer))).buffer`,
    );
    expect(served).toContain("ping");
    expect(text(reply)).toBe("XS got: host saw ping");
  });

  test("issueCommand calls handleCommand inside XS, and its promise jobs run before the reply", async () => {
    await worker.evaluate(`
      globalThis.handleCommand = (request) => {
        const answer = { result: undefined };
        Promise.resolve(new TextDecoder().decode(request)).then((t) => { answer.result = new TextEncoder().encode(t.toUpperCase()).buffer; });
        return answer;
      };`);
    expect(text((await worker.issueCommand(bytes("pushed event"))).reply)).toBe("PUSHED EVENT");
  });

  test("an exception in XS rejects that request only, with XS's message", async () => {
    const failing = worker.evaluate("null.x");
    const next = worker.evaluate("new TextEncoder().encode('still alive').buffer");
    await expect(failing).rejects.toThrow(XsError);
    await expect(failing).rejects.toThrow(/TypeError/);
    expect(text((await next).reply)).toBe("still alive");
  });
});

test("a request beyond the metering limit ends the engine with a clear error", async () => {
  const worker = new XsWorker({ name: "metered", meteringLimit: 100000 });
  worker.start();
  try {
    await expect(worker.evaluate("for (;;);")).rejects.toThrow(/too much computation/);
    await expect(worker.evaluate("1")).rejects.toThrow(/too much computation/);
  } finally {
    await worker.close();
  }
});

test("a command without a host handler fails the request instead of hanging", async () => {
  const worker = new XsWorker({ name: "no-handler" });
  worker.start();
  try {
    await expect(worker.evaluate("issueCommand(new ArrayBuffer(1))")).rejects.toThrow(/no onCommand handler/);
  } finally {
    await worker.close();
  }
});

test("after close, requests are refused", async () => {
  const worker = new XsWorker({ name: "closing" });
  worker.start();
  const last = worker.evaluate("1");
  await worker.close();
  await expect(last).resolves.toHaveProperty("meter");
  await expect(worker.evaluate("1")).rejects.toThrow(/closed/);
});

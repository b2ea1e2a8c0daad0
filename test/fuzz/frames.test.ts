// Fuzzes a live node process with frames: valid CONNECT, DECLARE, PUBLISH and the rest, with bytes
// flipped, lengths altered, frames cut short, spliced and run together, and plain random bytes, over
// many connections at once. The node must never crash, must close every connection that breaks the
// protocol or stops answering (each with an ERROR frame naming a known code), must give back the
// memory it took, and a canary publishing and subscribing through it all the while must lose nothing.
// FUZZ_RUNS scales it: 2,000 frames in the normal suite, FUZZ_RUNS × 100 (1,000,000 in `npm run fuzz`).
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BusClient } from "../../src/bus/client/index.js";
import {
  decodeControl,
  ErrorCode,
  encodeControl,
  encodeRouted,
  FrameType,
  type FrameTypeCode,
  frameType,
  PROTOCOL_VERSION,
} from "../../src/bus/protocol/index.js";
import { rawConnection, residentKiB } from "../integration/security/raw-connection.js";
import { BusFixture, inbox, type NodeProcess } from "../support/bus.js";

const FRAMES = Number(
  process.env.FUZZ_FRAMES ?? (process.env.FUZZ_RUNS ? Number(process.env.FUZZ_RUNS) * 100 : 2000),
);
const SEED = Number(process.env.FUZZ_SEED ?? Date.now() % 2 ** 31);
/** Connections open at once, and the source addresses they spread over (127.0.0.2 and up). */
const CONCURRENCY = 64;
const ADDRESSES = 40;
const HEARTBEAT_MS = 1000;
const HANDSHAKE_TIMEOUT_MS = 1000;
/** A connection the node has not closed by then was left hanging (heartbeat timeout is 3 s). */
const CLOSE_DEADLINE_MS = 20_000;
/**
 * Memory the node may keep after the run, on top of where it started: generous, since V8 keeps the
 * heap it grew to (1,000,000 frames: 64 → 161 MiB, of which 144 after the first 100,000).
 */
const RSS_SLACK_KIB = 128 * 1024;
const CANARY = `canary-${SEED}`;
const TIMEOUT_MS = Math.max(60_000, FRAMES * 2);

const fixture = new BusFixture();
let node: NodeProcess;
/** Stops the canary's publishing, also when the run failed before it could. */
let stopPublishing = () => {};

beforeAll(async () => {
  await fixture.setup();
  node = await fixture.startNode("fuzzed", [
    "--heartbeat",
    String(HEARTBEAT_MS),
    "--handshake-timeout",
    String(HANDSHAKE_TIMEOUT_MS),
    "--max-frame",
    String(1024 * 1024),
  ]);
});

afterAll(async () => {
  stopPublishing();
  await fixture.teardown();
});

// ---- frames --------------------------------------------------------------------------------------

const name = fc.constantFrom("a", "b", "fuzz.x", "fuzz.y", "node.up", "*", "", "x".repeat(40));
const names = fc.array(name, { maxLength: 4 });
const payload = fc.uint8Array({ maxLength: 96 });

const connectFrame = fc
  .record({
    protocol: fc.constantFrom<unknown>(PROTOCOL_VERSION, PROTOCOL_VERSION, PROTOCOL_VERSION, 2, "1"),
    kind: fc.constantFrom("client", "client", "client", "node", "other"),
    token: fc.constantFrom("good-token", "good-token", "other-token", "wrong", ""),
    name: fc.constantFrom(undefined, "child", "fuzzed"),
  })
  .map((body) => encodeControl(FrameType.connect, body));

const declareFrame = fc
  .record({ events: names, tags: names, groups: names, channels: names })
  .map((body) => encodeControl(FrameType.declare, body));

const routedFrame = fc
  .record({
    type: fc.constantFrom<FrameTypeCode>(
      FrameType.publish,
      FrameType.publish,
      FrameType.publish,
      FrameType.request,
      FrameType.reply,
    ),
    id: fc.nat(),
    event: name,
    node: fc.constantFrom("", "", "fuzzed", "elsewhere"),
    tag: fc.constantFrom("", "", "t"),
    replyTo: fc.constantFrom("", "", "_reply.1"),
    flags: fc.constantFrom(0, 0, 0, 1, 2, 255),
    payload,
  })
  .map(({ type, flags, payload: body, ...header }) => encodeRouted(type, header, body, flags));

const controlFrame = fc
  .record({
    type: fc.constantFrom<FrameTypeCode>(
      FrameType.ping,
      FrameType.pong,
      FrameType.interest,
      FrameType.ready,
      FrameType.challenge,
      FrameType.proof,
      FrameType.error,
    ),
    body: fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: undefined }),
  })
  .map(({ type, body }) => encodeControl(type, body));

/** Any type byte, any header length, any bytes: well framed, meaning nothing. */
const strangeFrame = fc
  .record({
    type: fc.integer({ min: 0, max: 255 }),
    flags: fc.nat(255),
    body: fc.uint8Array({ maxLength: 64 }),
  })
  .map(({ type, flags, body }) => {
    const frame = new Uint8Array(8 + body.length);
    new DataView(frame.buffer).setUint32(0, frame.length - 4);
    frame[4] = type;
    frame[5] = flags;
    frame[6] = body[0] ?? 0;
    frame[7] = body[1] ?? 0;
    frame.set(body, 8);
    return frame;
  });

const anyFrame = fc.oneof(
  { arbitrary: routedFrame, weight: 12 },
  { arbitrary: controlFrame, weight: 3 },
  { arbitrary: declareFrame, weight: 1 },
  { arbitrary: connectFrame, weight: 1 },
  { arbitrary: strangeFrame, weight: 1 },
);

type Mutation =
  | { kind: "flip"; frame: number; at: number; xor: number }
  | { kind: "length"; frame: number; length: number }
  | { kind: "cut"; frame: number; at: number }
  | { kind: "splice"; frame: number; at: number; bytes: Uint8Array }
  | { kind: "repeat"; frame: number };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({
    kind: fc.constant("flip" as const),
    frame: fc.nat(),
    at: fc.nat(),
    xor: fc.integer({ min: 1, max: 255 }),
  }),
  fc.record({
    kind: fc.constant("length" as const),
    frame: fc.nat(),
    length: fc.oneof(fc.nat(16), fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.integer({ min: -8, max: 8 })),
  }),
  fc.record({ kind: fc.constant("cut" as const), frame: fc.nat(), at: fc.nat() }),
  fc.record({
    kind: fc.constant("splice" as const),
    frame: fc.nat(),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
  }),
  fc.record({ kind: fc.constant("repeat" as const), frame: fc.nat() }),
);

type Case = {
  address: number;
  /** The frames before mutation: how many frames the case counts for. */
  frames: Uint8Array[];
  mutations: Mutation[];
  /** Random bytes instead of frames. */
  garbage: Uint8Array | undefined;
  /** Chunk sizes the stream is written in (cycled), so that frames straddle writes. */
  chunks: number[];
};

const caseOf = (maxFrames: number): fc.Arbitrary<Case> =>
  fc.record({
    address: fc.nat(ADDRESSES - 1),
    // Mostly a proper handshake first, so that the frames after it reach a ready connection.
    frames: fc
      .tuple(
        fc.oneof(
          { arbitrary: fc.constant("hello" as const), weight: 4 },
          { arbitrary: fc.constant("none" as const), weight: 1 },
        ),
        declareFrame,
        fc.array(anyFrame, { minLength: 1, maxLength: maxFrames }),
      )
      .map(([start, declare, rest]) =>
        start === "hello"
          ? [
              encodeControl(FrameType.connect, {
                protocol: PROTOCOL_VERSION,
                kind: "client",
                token: "good-token",
              }),
              declare,
              ...rest,
            ]
          : rest,
      ),
    mutations: fc.oneof(
      { arbitrary: fc.constant<Mutation[]>([]), weight: 1 },
      { arbitrary: fc.array(mutation, { minLength: 1, maxLength: 3 }), weight: 5 },
    ),
    garbage: fc.oneof(
      { arbitrary: fc.constant(undefined), weight: 9 },
      { arbitrary: fc.uint8Array({ minLength: 1, maxLength: 512 }), weight: 1 },
    ),
    chunks: fc.array(fc.integer({ min: 1, max: 4096 }), { minLength: 1, maxLength: 4 }),
  });

function mutate(frames: readonly Uint8Array[], mutations: readonly Mutation[]): Uint8Array[] {
  const out = frames.map((frame) => frame.slice());
  for (const m of mutations) {
    const index = m.frame % out.length;
    const frame = out[index]!;
    switch (m.kind) {
      case "flip":
        frame[m.at % frame.length]! ^= m.xor;
        break;
      case "length": {
        if (frame.length < 4) break;
        const declared = new DataView(frame.buffer, frame.byteOffset).getUint32(0);
        const length = m.length < 0 ? Math.max(0, declared + m.length) : m.length;
        new DataView(frame.buffer, frame.byteOffset).setUint32(0, length >>> 0);
        break;
      }
      case "cut":
        out[index] = frame.slice(0, m.at % frame.length);
        break;
      case "splice": {
        const at = m.at % (frame.length + 1);
        out[index] = Buffer.concat([frame.subarray(0, at), m.bytes, frame.subarray(at)]);
        break;
      }
      case "repeat":
        out.splice(index, 0, frame.slice());
        break;
    }
  }
  return out;
}

// ---- running cases -------------------------------------------------------------------------------

const KNOWN_CODES = new Set<string>(Object.values(ErrorCode));

type Tally = {
  connections: number;
  frames: number;
  bytes: number;
  /** ERROR codes the node closed connections with. */
  codes: Map<string, number>;
  /** What went wrong: a connection left open, closed without ERROR, or with an unknown code. */
  violations: string[];
};

async function runCase(port: number, fuzz: Case, tally: Tally): Promise<void> {
  const frames = fuzz.garbage ? [fuzz.garbage] : mutate(fuzz.frames, fuzz.mutations);
  const stream = Buffer.concat(frames);
  const connection = rawConnection(port, `127.0.0.${2 + fuzz.address}`);
  tally.connections++;
  tally.frames += fuzz.garbage ? 1 : fuzz.frames.length;
  tally.bytes += stream.length;
  let offset = 0;
  for (let i = 0; offset < stream.length; i++) {
    const size = fuzz.chunks[i % fuzz.chunks.length]!;
    connection.write(stream.subarray(offset, offset + size));
    offset += size;
  }
  let timer: NodeJS.Timeout | undefined;
  const closed = await Promise.race([
    connection.closed.then(() => true),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), CLOSE_DEADLINE_MS);
    }),
  ]);
  clearTimeout(timer);
  const what = () => `${describeCase(fuzz)} (received types ${connection.frames.map(frameType).join(",")})`;
  if (!closed) {
    tally.violations.push(`left open for ${CLOSE_DEADLINE_MS} ms: ${what()}`);
    connection.destroy();
    return;
  }
  const errors = connection.frames.filter((frame) => frameType(frame) === FrameType.error);
  const code = errors.length > 0 ? (decodeControl(errors[0]!) as { code?: unknown }).code : undefined;
  if (typeof code !== "string") {
    // An ERROR from the client is its goodbye: the node closes without answering it.
    if (frames.some((frame) => frameType(frame) === FrameType.error)) return;
    tally.violations.push(`closed without an ERROR frame: ${what()}`);
    return;
  }
  if (!KNOWN_CODES.has(code)) tally.violations.push(`closed with unknown code ${code}: ${what()}`);
  tally.codes.set(code, (tally.codes.get(code) ?? 0) + 1);
}

function describeCase(fuzz: Case): string {
  if (fuzz.garbage) return `garbage ${Buffer.from(fuzz.garbage).toString("hex").slice(0, 80)}`;
  const frames = fuzz.frames.map((f) => frameType(f)).join(",");
  return `frames [${frames}] mutations ${JSON.stringify(fuzz.mutations, (_, v) => (v instanceof Uint8Array ? Buffer.from(v).toString("hex") : v))}`;
}

// ---- the canary ----------------------------------------------------------------------------------

async function startCanary(): Promise<{ stop(): Promise<{ sent: number; received: number[] }> }> {
  const subscriber = await fixture.client(node, { events: [CANARY] });
  const publisher: BusClient = await fixture.client(node, { events: [] });
  const box = inbox(subscriber);
  const received: number[] = [];
  subscriber.onMessage((message) => {
    if (message.event === CANARY) received.push(Number(message.text()));
  });
  // The subscription is in place once one message made it through.
  const deadline = Date.now() + 10_000;
  while (received.length === 0 && Date.now() < deadline) {
    publisher.publish(CANARY, "-1");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  if (received.length === 0) throw new Error("the canary's subscription never took effect");
  received.length = 0;
  box.messages.length = 0;
  let sent = 0;
  const timer = setInterval(() => publisher.publish(CANARY, String(sent++)), 5);
  stopPublishing = () => clearInterval(timer);
  return {
    stop: async () => {
      stopPublishing();
      await publisher.flush();
      const until = Date.now() + 10_000;
      while (received.filter((n) => n >= 0).length < sent && Date.now() < until) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return { sent, received: received.filter((n) => n >= 0) };
    },
  };
}

// ---- the run -------------------------------------------------------------------------------------

describe("frame fuzzer against a live node", () => {
  it(
    `survives ${FRAMES} mutated frames over many connections; closes each broken one with ERROR; memory returns; a canary loses nothing`,
    async () => {
      const pid = node.process.pid;
      const canary = await startCanary();
      // A little traffic first, so that the baseline holds what any running node holds.
      const warmUp = fc.sample(caseOf(8), { numRuns: 50, seed: SEED + 1 });
      const warmTally: Tally = { connections: 0, frames: 0, bytes: 0, codes: new Map(), violations: [] };
      await runAll(warmUp, warmTally);
      const rssStart = await residentKiB(pid);
      let rssPeak = rssStart;
      const sampler = setInterval(() => {
        residentKiB(pid)
          .then((kib) => {
            rssPeak = Math.max(rssPeak, kib);
          })
          .catch(() => undefined);
      }, 250);

      const tally: Tally = { connections: 0, frames: 0, bytes: 0, codes: new Map(), violations: [] };
      const started = Date.now();
      const maxFrames = FRAMES >= 100_000 ? 120 : 24;
      const generator = sampleStream(caseOf(maxFrames), SEED);
      await runAll(
        (function* () {
          while (tally.frames < FRAMES) {
            const next = generator.next();
            if (next.done) return;
            yield next.value;
          }
        })(),
        tally,
      );
      const elapsedMs = Date.now() - started;
      clearInterval(sampler);
      const result = await canary.stop();
      // Give the node's heap a moment to shrink after the last connections closed.
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const rssEnd = await residentKiB(pid);
      const report = {
        seed: SEED,
        frames: tally.frames,
        connections: tally.connections,
        megabytes: Math.round(tally.bytes / 1e4) / 100,
        seconds: elapsedMs / 1000,
        rssKiB: { start: rssStart, peak: rssPeak, end: rssEnd },
        codes: Object.fromEntries([...tally.codes].sort((a, b) => b[1] - a[1])),
        canary: { sent: result.sent, received: result.received.length },
        violations: tally.violations.length,
      };
      console.log(`frame fuzzer: ${JSON.stringify(report)}`);

      expect(node.process.exitCode, node.stderr.slice(-20).join("\n")).toBeNull();
      expect(node.process.signalCode).toBeNull();
      expect(tally.violations.slice(0, 10), `seed ${SEED}`).toEqual([]);
      expect(result.received).toEqual(Array.from({ length: result.sent }, (_, i) => i));
      expect(rssEnd).toBeLessThan(rssStart + RSS_SLACK_KIB);
      expect(tally.frames).toBeGreaterThanOrEqual(FRAMES);
    },
    TIMEOUT_MS,
  );
});

/** Cases one after another from a seed, without holding them all in memory. */
function* sampleStream(arbitrary: fc.Arbitrary<Case>, seed: number): Generator<Case> {
  for (let batch = 0; ; batch++) yield* fc.sample(arbitrary, { numRuns: 500, seed: seed + batch * 7919 });
}

/** Runs the cases CONCURRENCY at a time. */
async function runAll(cases: Iterable<Case>, tally: Tally): Promise<void> {
  const iterator = cases[Symbol.iterator]();
  const worker = async () => {
    for (;;) {
      const next = iterator.next();
      if (next.done) return;
      await runCase(node.port, next.value, tally);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
}

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { RequestHandlerError } from "../../../src/bus/client/errors.js";
import { createMessage, type Message, type Payload, toBytes } from "../../../src/bus/message.js";
import type { Target } from "../../../src/bus/protocol/index.js";
import { ImageUnavailableError } from "../../../src/errors.js";
import { type ImageBus, SEND_TIMEOUTS, STREAM_REFUSED, sendImage } from "../../../src/images/send.js";
import { Spool } from "../../../src/images/spool.js";
import { CHUNK_BYTES, decodeChunk, IMAGE_EVENTS, type OfferReply } from "../../../src/images/wire.js";

const IMAGE = "sha256:feed";
const OFFER = { image: IMAGE, reference: "app:1", target: { type: "all" as const }, size: 0 };

let dir = "";
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "tssend-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/**
 * A receiver that takes every chunk and refuses the whole stream at its end `refusals` times. A chunk
 * `lost` says is never answered (its link dropped with it on board).
 */
function fakeReceiver(refusals: number, lost: (index: number) => boolean = () => false) {
  const log: string[] = [];
  let held = 0;
  let refused = 0;
  const answer = (event: string, data: Uint8Array): Payload | undefined => {
    if (event === IMAGE_EVENTS.offer) {
      log.push(`offer→${held}`);
      const reply: OfferReply = {
        node: "n1",
        need: true,
        confirmed: held,
        loading: ["n1"],
        had: [],
        unreachable: [],
      };
      return JSON.stringify(reply);
    }
    if (event === IMAGE_EVENTS.chunk) {
      const { header } = decodeChunk(data);
      log.push(`chunk ${header.index}`);
      if (lost(header.index)) return undefined;
      held = header.index + 1;
      return "{}";
    }
    if (refused++ < refusals) {
      held = 0;
      log.push("end refused");
      throw new RequestHandlerError(event, "n1", "digest mismatch", STREAM_REFUSED);
    }
    log.push("end");
    return JSON.stringify({ results: [{ node: "n1", outcome: "loaded" }] });
  };
  const bus: ImageBus = {
    async request(event: string, _target: Target, payload?: Payload): Promise<Message> {
      const reply = answer(event, toBytes(payload));
      if (reply === undefined) return new Promise<Message>(() => {});
      return createMessage(
        "request",
        { id: 0, event, origin: "n1", node: "", tag: "", group: "", channel: "", replyTo: "" },
        toBytes(reply),
      );
    },
  };
  return { bus, log };
}

async function twoChunkSpool(): Promise<Spool> {
  async function* save() {
    yield new Uint8Array(CHUNK_BYTES + 10).fill(7);
  }
  const { spool, filled } = await Spool.fill(dir, IMAGE, save());
  await filled;
  return spool;
}

describe("sendImage", () => {
  it("sends a refused stream again from its first chunk", async () => {
    const spool = await twoChunkSpool();
    const { bus, log } = fakeReceiver(1);
    const results = await sendImage(bus, "n1", async () => spool, OFFER, SEND_TIMEOUTS, {
      sleep: async () => {},
    });
    expect(results).toEqual([{ node: "n1", outcome: "loaded" }]);
    expect(log).toEqual([
      "offer→0",
      "chunk 0",
      "chunk 1",
      "end refused",
      "offer→0",
      "chunk 0",
      "chunk 1",
      "end",
    ]);
    await spool.remove();
  });

  it("reports the subtree failed after the stream was refused three times", async () => {
    const spool = await twoChunkSpool();
    const { bus, log } = fakeReceiver(10);
    const results = await sendImage(bus, "n1", async () => spool, OFFER, SEND_TIMEOUTS, {
      sleep: async () => {},
    });
    expect(results).toEqual([
      { node: "n1", outcome: "failed", error: expect.stringMatching(/refused 3 times: .*digest mismatch/) },
    ]);
    expect(log.filter((line) => line === "end refused")).toHaveLength(3);
    await spool.remove();
  });

  it("reads nothing from its source when the receiver needs no chunks", async () => {
    const bus: ImageBus = {
      async request(event: string): Promise<Message> {
        const reply: OfferReply = {
          node: "n1",
          need: false,
          confirmed: 0,
          loading: [],
          had: ["n1"],
          unreachable: [],
        };
        return createMessage(
          "request",
          { id: 0, event, origin: "n1", node: "", tag: "", group: "", channel: "", replyTo: "" },
          toBytes(JSON.stringify(reply)),
        );
      },
    };
    let asked = 0;
    const results = await sendImage(
      bus,
      "n1",
      async () => {
        asked++;
        return twoChunkSpool();
      },
      OFFER,
    );
    expect([results, asked]).toEqual([[{ node: "n1", outcome: "had" }], 0]);
  });

  it("ends at once, offering no more, when its source cannot be read", async () => {
    const { bus, log } = fakeReceiver(0);
    async function* save(): AsyncIterable<Uint8Array> {
      yield new Uint8Array(10);
      throw new ImageUnavailableError("app:1", 'image "app:1" is not on this engine');
    }
    const { spool } = await Spool.fill(dir, IMAGE, save());
    const results = await sendImage(bus, "n1", async () => spool, OFFER, SEND_TIMEOUTS, {
      sleep: async () => {},
    });
    expect(results).toEqual([
      {
        node: "n1",
        outcome: "failed",
        error: 'the image could not be read at its source: image "app:1" is not on this engine',
      },
    ]);
    expect(log).toEqual(["offer→0"]);
    await spool.remove();
  });

  it("offers again as soon as the link is lost, not after the chunks' deadline, and goes on from what was confirmed", async () => {
    const spool = await twoChunkSpool();
    let link = new AbortController();
    let losses = 0;
    // The link drops with the first copy of chunk 1 on it.
    const { bus, log } = fakeReceiver(0, (index) => {
      if (index !== 1 || losses++ > 0) return false;
      link.abort();
      link = new AbortController();
      return true;
    });
    const started = Date.now();
    const results = await sendImage(
      bus,
      "n1",
      async () => spool,
      OFFER,
      { ...SEND_TIMEOUTS, chunkMs: 60_000 },
      { sleep: async () => {}, link: () => link.signal },
    );
    expect(results).toEqual([{ node: "n1", outcome: "loaded" }]);
    expect(log).toEqual(["offer→0", "chunk 0", "chunk 1", "offer→1", "chunk 1", "end"]);
    // The lost chunk's own deadline is a minute: the resume did not wait for it.
    expect(Date.now() - started).toBeLessThan(10_000);
    await spool.remove();
  });

  it("a request made on a link already lost fails at once, and its own late failure is left unhandled nowhere", async () => {
    const lost = new AbortController();
    lost.abort();
    let asked = 0;
    const bus: ImageBus = {
      request(event: string): Promise<Message> {
        asked++;
        return new Promise((_, reject) => setTimeout(() => reject(new Error(`${event}: no answer`)), 20));
      },
    };
    const results = await sendImage(
      bus,
      "n1",
      () => twoChunkSpool(),
      OFFER,
      { ...SEND_TIMEOUTS, giveUpMs: 50 },
      {
        sleep: (ms) => new Promise((resolve) => setTimeout(resolve, Math.min(ms, 10))),
        link: () => lost.signal,
      },
    );
    expect(results).toEqual([
      { node: "n1", outcome: "failed", error: "no progress for 0 s: the link to n1 was lost" },
    ]);
    expect(asked).toBeGreaterThan(0);
    // The requests' own rejections come later: vitest fails the run on any that nobody handles.
    await new Promise((resolve) => setTimeout(resolve, 100));
  });
});

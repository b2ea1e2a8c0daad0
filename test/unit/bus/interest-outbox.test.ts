// The interest a node still owes each link: changes gathered per turn of the event loop, and the removals a
// lost link caused held back for a grace period, so that a subtree re-linking elsewhere costs no flood.
import { setImmediate as nextTurn } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { decodeControl, parseInterest } from "../../../src/bus/protocol/index.js";
import type { InterestDelta } from "../../../src/bus/routing/interest.js";
import { type InterestLink, InterestOutbox } from "../../../src/bus/server/interest-outbox.js";

class Link implements InterestLink {
  state = "ready";
  readonly frames: InterestDelta[] = [];
  send(frame: Uint8Array): boolean {
    this.frames.push(parseInterest(decodeControl(frame)));
    return true;
  }
}

const delta = (add: string[], remove: string[] = []): InterestDelta => ({ add, remove });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("InterestOutbox", () => {
  it("sends a burst of changes made in one turn as one INTEREST frame per link", async () => {
    const [a, b] = [new Link(), new Link()];
    const outbox = new InterestOutbox<Link>(16 * 1024, 1000);
    for (let i = 0; i < 50; i++) {
      outbox.queue(
        new Map([
          [a, delta([`e\tx${i}`])],
          [b, delta([`e\tx${i}`])],
        ]),
      );
    }
    expect(a.frames).toEqual([]);
    await nextTurn();
    expect(a.frames).toHaveLength(1);
    expect(a.frames[0]!.add).toHaveLength(50);
    expect(b.frames).toEqual(a.frames);
  });

  it("sends nothing for a key added and removed (or removed and added back) within one turn", async () => {
    const link = new Link();
    const outbox = new InterestOutbox<Link>(16 * 1024, 1000);
    outbox.queue(new Map([[link, delta(["e\tbrief"])]]));
    outbox.queue(new Map([[link, delta([], ["e\tbrief", "e\tgone"])]]));
    outbox.queue(new Map([[link, delta(["e\tgone"])]]));
    await nextTurn();
    expect(link.frames).toEqual([]);
  });

  it("holds the removals of a lost link: keys back within the grace cost nothing, the rest leave after it", async () => {
    const link = new Link();
    const outbox = new InterestOutbox<Link>(16 * 1024, 150);
    // The dead node's own key is not held (nothing brings it back); its subtree's are.
    outbox.queue(
      new Map([[link, delta([], ["n\tdead", "n\tchild", "n\tgone-too", "e\ttick"])]]),
      (key) => key !== "n\tdead",
    );
    await nextTurn();
    expect(link.frames).toEqual([{ add: [], remove: ["n\tdead"] }]);
    // The subtree re-linked elsewhere: its keys are back, but for one node that did not make it.
    outbox.queue(new Map([[link, delta(["n\tchild", "e\ttick", "e\tnew"])]]));
    await nextTurn();
    expect(link.frames).toEqual([
      { add: [], remove: ["n\tdead"] },
      { add: ["e\tnew"], remove: [] },
    ]);
    await sleep(300);
    expect(link.frames.at(-1)).toEqual({ add: [], remove: ["n\tgone-too"] });
    expect(link.frames).toHaveLength(3);
  });

  it("sends an ordinary removal (a subscriber left) in the same turn, not after the grace", async () => {
    const link = new Link();
    const outbox = new InterestOutbox<Link>(16 * 1024, 60_000);
    outbox.queue(new Map([[link, delta([], ["e\tleft"])]]));
    await nextTurn();
    expect(link.frames).toEqual([{ add: [], remove: ["e\tleft"] }]);
  });

  it("sends nothing to a link that closed or was forgotten before its turn", async () => {
    const [closed, forgotten] = [new Link(), new Link()];
    const outbox = new InterestOutbox<Link>(16 * 1024, 50);
    outbox.queue(
      new Map([
        [closed, delta(["e\ta"], ["e\tb"])],
        [forgotten, delta(["e\ta"], ["e\tb"])],
      ]),
      () => true,
    );
    closed.state = "closed";
    outbox.forget(forgotten);
    await sleep(120);
    expect(closed.frames).toEqual([]);
    expect(forgotten.frames).toEqual([]);
  });
});

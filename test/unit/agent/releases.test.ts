import { describe, expect, it } from "vitest";
import { Releases } from "../../../src/agent/releases.js";
import type { NodeController, ObservedObject, Observer } from "../../../src/reconcile/controller.js";
import { FakeClock, settle } from "../../support/fake-clock.js";

type Item = ObservedObject & { id: string };

function observer(items: () => ObservedObject[]): Observer<ObservedObject> & { relists: number } {
  return {
    relists: 0,
    synced: true,
    error: undefined,
    async start() {},
    stop() {},
    async relist() {
      this.relists += 1;
    },
    items,
  };
}

/** A "backend" kind and a "front" kind that holds backends for as long as `hold()` says. */
function setup(hold: (leaving: readonly ObservedObject[]) => number) {
  const clock = new FakeClock();
  const backends: Item[] = [
    { stack: "s", resource: "web", replica: 1, id: "a" },
    { stack: "s", resource: "web", replica: 2, id: "b" },
  ];
  const fronts = observer(() => []);
  const enqueued: string[] = [];
  const logged: string[] = [];
  const kinds = new Map([
    ["backend", { controller: { kind: "backend" } as NodeController, observer: observer(() => backends) }],
    [
      "front",
      {
        controller: { kind: "front", dependsOn: ["backend"], holding: hold } as unknown as NodeController,
        observer: fronts,
      },
    ],
  ]);
  const releases = new Releases({
    kinds,
    entries: () => [{ stack: "s", entries: {} }],
    enqueueDependents: (kind) => enqueued.push(kind),
    clock,
    log: (line) => logged.push(line),
  });
  return { clock, backends, releases, enqueued, logged, fronts };
}

describe("agent — releasing objects other kinds depend on", () => {
  it("hides the leaving objects from dependents at once and waits until they have let go", async () => {
    let holdMs = 30_000;
    const { clock, backends, releases, enqueued, fronts } = setup(() => holdMs);
    let released = false;
    const done = releases.release("backend", ["a"], new AbortController().signal).then(() => {
      released = true;
    });
    await settle();
    expect(releases.visible("backend", backends).map((b) => b.id)).toEqual(["b"]);
    expect(releases.leaving("backend", backends).map((b) => b.id)).toEqual(["a"]);
    expect(enqueued).toEqual(["backend"]);
    await clock.advance(1_000);
    expect(released).toBe(false);
    expect(fronts.relists).toBeGreaterThan(0);
    holdMs = 0;
    await clock.advance(400);
    await done;
    expect(released).toBe(true);
  });

  it("stops waiting when the hold it was told is over, and says so", async () => {
    const { clock, releases, logged } = setup(() => 2_000);
    let released = false;
    const done = releases.release("backend", ["a"], new AbortController().signal).then(() => {
      released = true;
    });
    await clock.advance(6_000);
    expect(released).toBe(false);
    await clock.advance(1_500);
    await done;
    expect(logged.join("\n")).toMatch(/still held by front/);
  });

  it("readmits an object that was not stopped after all, and forgets one that is gone", async () => {
    const { backends, releases, enqueued } = setup(() => 0);
    const readmit = await releases.release("backend", ["a", "b"], new AbortController().signal);
    expect(releases.visible("backend", backends)).toEqual([]);
    readmit();
    expect(releases.visible("backend", backends).map((b) => b.id)).toEqual(["a", "b"]);
    expect(enqueued).toEqual(["backend", "backend"]);

    await releases.release("backend", ["a"], new AbortController().signal);
    const remaining = backends.filter((b) => b.id !== "a");
    expect(releases.visible("backend", remaining).map((b) => b.id)).toEqual(["b"]);
    // A new object that reuses nothing of the old one is visible (IDs, not names, are released).
    expect(releases.visible("backend", backends).map((b) => b.id)).toEqual(["a", "b"]);
  });
});

describe("agent — releases keep nothing of objects that are gone", () => {
  it("holds no ID of a released object once a later list no longer shows it, with or without a dependent", async () => {
    const { backends, releases } = setup(() => 0);
    // 500 recreates: each releases the old object, which is then removed (the list stops showing it)
    // and replaced by a new one; nothing readmits a release that succeeded.
    for (let round = 0; round < 500; round++) {
      const old = backends[0]!;
      await releases.release("backend", [old.id], new AbortController().signal);
      backends[0] = { ...old, id: `new-${round}` };
    }
    expect(releases.size).toBeLessThanOrEqual(1);
    expect(releases.visible("backend", backends).map((b) => b.id)).toEqual(["new-499", "b"]);
  });
});

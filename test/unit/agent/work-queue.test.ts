import { describe, expect, it } from "vitest";
import { TerminalError, WorkQueue, type WorkQueueOptions } from "../../../src/agent/work-queue.js";
import { FakeClock, settle } from "../../support/fake-clock.js";

function setup(reconcile: WorkQueueOptions["reconcile"], options: Partial<WorkQueueOptions> = {}) {
  const clock = new FakeClock();
  const failed: [string, number][] = [];
  const terminal: string[] = [];
  const queue = new WorkQueue({
    clock,
    reconcile,
    events: { failed: (key, _e, delay) => failed.push([key, delay]), terminal: (key) => terminal.push(key) },
    ...options,
  });
  return { clock, queue, failed, terminal };
}

describe("WorkQueue", () => {
  it("deduplicates a key added several times before it runs", async () => {
    const runs: string[] = [];
    const { queue } = setup(
      async (key) => {
        runs.push(key);
        return undefined;
      },
      { concurrency: 1 },
    );
    queue.add("busy");
    queue.add("a");
    queue.add("a");
    queue.add("a");
    await queue.idle();
    expect(runs).toEqual(["busy", "a"]);
  });

  it("never reconciles one key twice at once, and re-runs it when added while running", async () => {
    let running = 0;
    let maxRunning = 0;
    let release: () => void = () => undefined;
    let runs = 0;
    const { queue } = setup(
      async () => {
        runs += 1;
        running += 1;
        maxRunning = Math.max(maxRunning, running);
        if (runs === 1) await new Promise<void>((resolve) => (release = resolve));
        running -= 1;
        return undefined;
      },
      { concurrency: 4 },
    );
    queue.add("web");
    await settle();
    queue.add("web");
    queue.add("web");
    await settle();
    expect(runs).toBe(1);
    release();
    await queue.idle();
    expect(runs).toBe(2);
    expect(maxRunning).toBe(1);
  });

  it("retries failures with per-key exponential backoff and resets after a success", async () => {
    let attempts = 0;
    const { queue, clock, failed } = setup(
      async () => {
        attempts += 1;
        if (attempts <= 3) throw new Error("engine busy");
        return undefined;
      },
      { baseDelayMs: 100 },
    );
    queue.add("web");
    await settle();
    expect(failed).toEqual([["web", 100]]);
    await clock.advance(99);
    expect(attempts).toBe(1);
    await clock.advance(1);
    expect(attempts).toBe(2);
    await clock.advance(200);
    expect(attempts).toBe(3);
    await clock.advance(400);
    expect(attempts).toBe(4);
    expect(failed.map(([, delay]) => delay)).toEqual([100, 200, 400]);
    expect(queue.failures("web")).toBe(0);
  });

  it("caps the backoff at maxDelayMs", async () => {
    const { queue, clock, failed } = setup(
      async () => {
        throw new Error("down");
      },
      { baseDelayMs: 100, maxDelayMs: 500 },
    );
    queue.add("web");
    await settle();
    for (let i = 0; i < 5; i++) await clock.advance(500);
    // Failures at t = 0, 100, 300, 700, 1200, 1700, 2200 within the 2500 ms advanced.
    expect(failed.map(([, d]) => d)).toEqual([100, 200, 400, 500, 500, 500, 500]);
  });

  it("reports a terminal error once and does not retry it", async () => {
    let attempts = 0;
    const { queue, clock, terminal, failed } = setup(async () => {
      attempts += 1;
      throw new TerminalError("image missing");
    });
    queue.add("ghost");
    await settle();
    await clock.advance(120_000);
    expect(attempts).toBe(1);
    expect(terminal).toEqual(["ghost"]);
    expect(failed).toEqual([]);
    expect(clock.pending()).toEqual([]);
  });

  it("limits retries across all keys with a global budget", async () => {
    const { queue, failed } = setup(
      async () => {
        throw new Error("down");
      },
      { baseDelayMs: 10, retryBurst: 2, retriesPerSecond: 1 },
    );
    for (const key of ["a", "b", "c", "d"]) queue.add(key);
    await queue.idle();
    expect(failed).toEqual([
      ["a", 10],
      ["b", 10],
      ["c", 1000],
      ["d", 2000],
    ]);
  });

  it("requeues a key after the delay its reconcile asked for", async () => {
    let runs = 0;
    const { queue, clock } = setup(async () => {
      runs += 1;
      return runs === 1 ? { requeueAfterMs: 5000 } : undefined;
    });
    queue.add("web");
    await settle();
    await clock.advance(4999);
    expect(runs).toBe(1);
    await clock.advance(1);
    expect(runs).toBe(2);
  });

  it("an add cancels a pending delayed retry and runs at once", async () => {
    let runs = 0;
    const { queue, clock } = setup(async () => {
      runs += 1;
      if (runs === 1) throw new Error("x");
      return undefined;
    });
    queue.add("web");
    await settle();
    expect(clock.pending()).toEqual([100]);
    queue.add("web");
    await settle();
    expect(runs).toBe(2);
    expect(clock.pending()).toEqual([]);
  });
});

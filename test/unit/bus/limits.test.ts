// The pure parts of the node's bounds: INTEREST cut into frames, the failed-authentication bucket, the
// routes replies must come back by, and the limits on one declaration.
import { describe, expect, it } from "vitest";
import { decodeControl, type RouteHeader } from "../../../src/bus/protocol/index.js";
import { AuthThrottle } from "../../../src/bus/server/auth-throttle.js";
import { checkDeclaration } from "../../../src/bus/server/declaration-limits.js";
import { interestFrames } from "../../../src/bus/server/interest-frames.js";
import { DEFAULT_LIMITS } from "../../../src/bus/server/limits.js";
import { ReplyRoutes } from "../../../src/bus/server/reply-routes.js";

describe("interestFrames", () => {
  it("cuts a large delta into frames under the budget that together carry every key, adds first", () => {
    const add = Array.from({ length: 5000 }, (_, i) => `t\tevent-${i}\ttag-ü-${i}`);
    const remove = Array.from({ length: 700 }, (_, i) => `e\told-${i}`);
    const frames = interestFrames({ add, remove }, 4096);
    expect(frames.length).toBeGreaterThan(10);
    for (const frame of frames) expect(frame.length).toBeLessThanOrEqual(4096);
    const bodies = frames.map((frame) => decodeControl(frame) as { add: string[]; remove: string[] });
    expect(bodies.flatMap((body) => body.add)).toEqual(add);
    expect(bodies.flatMap((body) => body.remove)).toEqual(remove);
  });

  it("sends nothing for an empty delta", () => {
    expect(interestFrames({ add: [], remove: [] })).toEqual([]);
  });
});

describe("AuthThrottle", () => {
  it("allows a burst of attempts, then one per refill; successes give their token back", () => {
    let now = 0;
    const throttle = new AuthThrottle(3, 2, () => now);
    expect([1, 2, 3].map(() => throttle.take("a"))).toEqual([0, 0, 0]);
    expect(throttle.take("a")).toBe(500);
    expect(throttle.take("b")).toBe(0);
    now += 500;
    expect(throttle.take("a")).toBe(0);
    expect(throttle.take("a")).toBe(500);
    throttle.succeeded("a");
    expect(throttle.take("a")).toBe(0);
  });
});

describe("ReplyRoutes", () => {
  const request: RouteHeader = {
    id: 7,
    event: "svc",
    origin: "n1",
    node: "",
    tag: "",
    group: "",
    channel: "",
    replyTo: "3",
  };
  const replyTo = { ...request, origin: "n2", node: "n1" };

  it("takes a reply only from a hop its request went to, until it expires", () => {
    let now = 0;
    const routes = new ReplyRoutes<string>({ ttlMs: 1000, maxRequests: 10, now: () => now });
    routes.record(request, ["responder"]);
    expect(routes.allows(replyTo, "responder")).toBe(true);
    expect(routes.allows(replyTo, "forger")).toBe(false);
    expect(routes.allows({ ...replyTo, id: 8 }, "responder")).toBe(false);
    now = 1000;
    expect(routes.allows(replyTo, "responder")).toBe(false);
  });

  it("forgets the oldest requests beyond its bound", () => {
    const routes = new ReplyRoutes<string>({ ttlMs: 60_000, maxRequests: 2 });
    for (const id of [1, 2, 3]) routes.record({ ...request, id }, ["hop"]);
    expect(routes.size).toBe(2);
    expect(routes.allows({ ...replyTo, id: 1 }, "hop")).toBe(false);
    expect(routes.allows({ ...replyTo, id: 3 }, "hop")).toBe(true);
  });
});

describe("checkDeclaration", () => {
  const limits = { ...DEFAULT_LIMITS, declaredNames: 4, declaredKeys: 10 };
  const declaration = (events: number, tags: number) => ({
    events: Array.from({ length: events }, (_, i) => `e${i}`),
    tags: Array.from({ length: tags }, (_, i) => `t${i}`),
    groups: [],
    channels: [],
  });

  it("names the limit a declaration goes over", () => {
    expect(() => checkDeclaration(declaration(5, 0), 100, limits)).toThrow(/5 events, over the limit of 4/);
    expect(() => checkDeclaration(declaration(3, 3), 100, limits)).toThrow(/12 interest keys/);
    expect(() => checkDeclaration(declaration(1, 1), 1 << 20, limits)).toThrow(/handshake frame limit/);
    expect(() => checkDeclaration(declaration(2, 4), 100, limits)).not.toThrow();
  });
});

import { describe, expect, it } from "vitest";
import {
  declarationKeys,
  eventKey,
  InterestTable,
  interestMatches,
  membershipMatches,
  nodeKey,
} from "../../../src/bus/routing/interest.js";

const target = (
  fields: Partial<{ event: string; node: string; tag: string; group: string; channel: string }>,
) => ({
  event: "deploy",
  node: "",
  tag: "",
  group: "",
  channel: "",
  ...fields,
});

describe("interest keys and matching", () => {
  const keys = new Set(declarationKeys({ events: ["deploy"], tags: ["web"], groups: ["g1"], channels: [] }));

  it("matches by event, and by each membership of the event's subscribers", () => {
    expect(interestMatches(keys, target({}))).toBe(true);
    expect(interestMatches(keys, target({ tag: "web" }))).toBe(true);
    expect(interestMatches(keys, target({ group: "g1" }))).toBe(true);
    expect(interestMatches(keys, target({ tag: "db" }))).toBe(false);
    expect(interestMatches(keys, target({ channel: "c" }))).toBe(false);
    expect(interestMatches(keys, target({ event: "other" }))).toBe(false);
  });

  it("needs the node's presence for a node target", () => {
    expect(interestMatches(keys, target({ node: "c1" }))).toBe(false);
    expect(interestMatches(new Set([...keys, nodeKey("c1")]), target({ node: "c1" }))).toBe(true);
  });

  it("treats a * subscription as every event", () => {
    const wildcard = new Set(declarationKeys({ events: ["*"], tags: ["web"], groups: [], channels: [] }));
    expect(interestMatches(wildcard, target({ event: "anything", tag: "web" }))).toBe(true);
    expect(interestMatches(wildcard, target({ event: "anything", tag: "db" }))).toBe(false);
  });

  it("matches a subscriber exactly: every given target field must be one of its memberships", () => {
    const member = {
      events: new Set(["deploy"]),
      tags: new Set(["web"]),
      groups: new Set<string>(),
      channels: new Set(["blue"]),
    };
    expect(membershipMatches(member, target({ tag: "web", channel: "blue" }))).toBe(true);
    expect(membershipMatches(member, target({ tag: "web", group: "g" }))).toBe(false);
  });
});

describe("InterestTable", () => {
  it("advertises to each link everything except that link's own interest", () => {
    const table = new InterestTable<string>();
    table.addLink("parent");
    table.addLink("child");
    const fromChild = table.applyLink("child", { add: [eventKey("a")], remove: [] });
    expect(fromChild.get("parent")).toEqual({ add: [eventKey("a")], remove: [] });
    expect(fromChild.has("child")).toBe(false);
    expect(table.advertisedTo("child")).toEqual([]);
    expect(table.advertisedTo("parent")).toEqual([eventKey("a")]);
  });

  it("refcounts local subscribers: only the first add and last remove are announced", () => {
    const table = new InterestTable<string>();
    table.addLink("parent");
    expect(table.addLocal([eventKey("a")]).get("parent")).toEqual({ add: [eventKey("a")], remove: [] });
    expect(table.addLocal([eventKey("a")]).size).toBe(0);
    expect(table.removeLocal([eventKey("a")]).size).toBe(0);
    expect(table.removeLocal([eventKey("a")]).get("parent")).toEqual({ add: [], remove: [eventKey("a")] });
    expect(table.count(eventKey("a"))).toBe(0);
  });

  it("announces a key to a link that holds it once someone else also wants it", () => {
    const table = new InterestTable<string>();
    table.addLink("child");
    table.applyLink("child", { add: [eventKey("a")], remove: [] });
    expect(table.addLocal([eventKey("a")]).get("child")).toEqual({ add: [eventKey("a")], remove: [] });
    expect(table.removeLocal([eventKey("a")]).get("child")).toEqual({ add: [], remove: [eventKey("a")] });
  });

  it("withdraws a lost link's interest from the other links", () => {
    const table = new InterestTable<string>();
    table.addLink("parent");
    table.addLink("child");
    table.applyLink("child", { add: [eventKey("a"), nodeKey("c1")], remove: [] });
    const deltas = table.removeLink("child");
    expect(deltas.get("parent")?.remove.sort()).toEqual([eventKey("a"), nodeKey("c1")].sort());
    expect(table.hasLink("child")).toBe(false);
  });

  it("ignores duplicate adds and unknown removes from a link", () => {
    const table = new InterestTable<string>();
    table.addLink("parent");
    table.addLink("child");
    table.applyLink("child", { add: [eventKey("a")], remove: [] });
    expect(table.applyLink("child", { add: [eventKey("a")], remove: [eventKey("zzz")] }).size).toBe(0);
    expect(table.count(eventKey("a"))).toBe(1);
  });
});

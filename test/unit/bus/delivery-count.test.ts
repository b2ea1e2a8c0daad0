import { describe, expect, it } from "vitest";
import { countDeliveries } from "../../../src/bus/delivery-count.js";

describe("countDeliveries", () => {
  it("is exact once every node the event was forwarded to has reported", () => {
    const count = countDeliveries("deploy", "root", [
      { node: "root", subscribers: 1, forwardedTo: ["a", "b"] },
      { node: "b", subscribers: 0, forwardedTo: [] },
      { node: "a", subscribers: 2, forwardedTo: ["c"] },
      { node: "c", subscribers: 3, forwardedTo: [] },
    ]);
    expect(count).toMatchObject({ event: "deploy", subscribers: 6, exact: true, unreported: [] });
  });

  it("names the nodes whose report is missing, and counts what came as a lower bound", () => {
    const count = countDeliveries("deploy", "root", [
      { node: "root", subscribers: 1, forwardedTo: ["a", "b"] },
      { node: "a", subscribers: 2, forwardedTo: ["c"] },
    ]);
    expect(count).toMatchObject({ subscribers: 3, exact: false, unreported: ["b", "c"] });
  });

  it("without even the publisher's node's report, nothing is known", () => {
    expect(countDeliveries("deploy", "root", [])).toMatchObject({
      subscribers: 0,
      exact: false,
      unreported: ["root"],
    });
  });
});

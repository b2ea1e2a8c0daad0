import { describe, expect, it } from "vitest";
import type { DeliveryCount } from "../../../src/bus/client/index.js";
import {
  formatDeliveryCount,
  publishWhenSubscribed,
  type SubscriberWait,
} from "../../../src/cli/publish-count.js";

function count(subscribers: number, unreported: string[] = []): DeliveryCount {
  return {
    event: "deploy",
    subscribers,
    exact: unreported.length === 0,
    reports: [{ node: "root", subscribers, forwardedTo: unreported }],
    unreported,
  };
}

/** A wait whose probes and publishes answer from lists, on a clock that moves only when it sleeps. */
function scripted(probes: DeliveryCount[], publishes: DeliveryCount[]) {
  const calls: string[] = [];
  let clock = 0;
  const wait: SubscriberWait = {
    probe: async () => {
      calls.push("probe");
      return probes.shift() ?? count(0);
    },
    publish: async () => {
      calls.push("publish");
      return publishes.shift() ?? count(0);
    },
    waiting: () => calls.push("waiting"),
    now: () => clock,
    sleep: async (ms) => {
      clock += ms;
    },
  };
  return { wait, calls };
}

describe("publishWhenSubscribed", () => {
  it("publishes at once when a subscriber is already reachable", async () => {
    const { wait, calls } = scripted([count(2)], [count(2)]);
    expect((await publishWhenSubscribed("deploy", wait, 30_000, 5000)).subscribers).toBe(2);
    expect(calls).toEqual(["probe", "publish"]);
  });

  it("probes until one is reachable, says once that it waits, then publishes once", async () => {
    const { wait, calls } = scripted([count(0), count(0), count(1)], [count(1)]);
    await publishWhenSubscribed("deploy", wait, 30_000, 5000);
    expect(calls).toEqual(["probe", "waiting", "probe", "probe", "publish"]);
  });

  it("waits again when the publish reached nobody by every report (nothing was delivered)", async () => {
    const { wait, calls } = scripted([count(1), count(1)], [count(0), count(1)]);
    await publishWhenSubscribed("deploy", wait, 30_000, 5000);
    expect(calls).toEqual(["probe", "publish", "waiting", "probe", "publish"]);
  });

  it("does not publish again when a node did not report: the event may have been delivered", async () => {
    const { wait, calls } = scripted([count(1)], [count(0, ["b"])]);
    await expect(publishWhenSubscribed("deploy", wait, 30_000, 5000)).rejects.toThrow(
      'published "deploy", but no node reported a subscriber receiving it: b did not report within 5 s',
    );
    expect(calls).toEqual(["probe", "publish"]);
  });

  it("gives up at the deadline, naming the event, the deadline and a node that did not report", async () => {
    const { wait, calls } = scripted([], []);
    await expect(publishWhenSubscribed("deploy", wait, 1000, 5000)).rejects.toThrow(
      'no subscriber of "deploy" was reachable within 1 s (--wait-timeout); nothing was published',
    );
    expect(calls).not.toContain("publish");
    const silent = scripted(
      Array.from({ length: 10 }, () => count(0, ["b"])),
      [],
    );
    await expect(publishWhenSubscribed("deploy", silent.wait, 1000, 5000)).rejects.toThrow(
      "(b did not report)",
    );
  });
});

describe("formatDeliveryCount", () => {
  it("prints the integer, like Redis's PUBLISH reply, and a note when it is a lower bound", () => {
    expect(formatDeliveryCount(count(3), "text", 5000)).toEqual({ stdout: "3", note: undefined });
    const partial = formatDeliveryCount(count(3, ["b"]), "text", 2000);
    expect(partial.stdout).toBe("3");
    expect(partial.note).toBe(
      "note: 1 node the event was sent to did not report within 2 s (b): 3 is a lower bound",
    );
  });

  it("as JSON: the count, whether it is exact, each node's report and who did not report", () => {
    const { stdout } = formatDeliveryCount(count(1, ["b", "c"]), "json", 5000);
    expect(JSON.parse(stdout)).toEqual({
      event: "deploy",
      subscribers: 1,
      exact: false,
      nodes: [{ node: "root", subscribers: 1, forwardedTo: ["b", "c"] }],
      unreported: ["b", "c"],
    });
  });
});

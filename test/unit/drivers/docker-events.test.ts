import { describe, expect, it } from "vitest";
import { toEngineEvent } from "../../../src/drivers/docker-events.js";
import { LEGACY_STACK } from "../../../src/model/labels.js";

function line(attributes: Record<string, string>, action = "start"): string {
  return JSON.stringify({
    Action: action,
    id: "c0ffee",
    timeNano: 1_700_000_000_123_456_000,
    Actor: { Attributes: attributes },
  });
}

describe("toEngineEvent — one line of the engine's event stream", () => {
  it("carries the container's stack and resource from its labels and the engine's time in ms", () => {
    expect(toEngineEvent(line({ "treescale.stack": "shop", "treescale.resource": "web" }))).toEqual({
      containerId: "c0ffee",
      stack: "shop",
      resource: "web",
      action: "start",
      time: 1_700_000_000_123,
    });
  });

  it("reads a container without a stack label (created before stacks) as the legacy stack", () => {
    expect(toEngineEvent(line({ "treescale.resource": "web" }))?.stack).toBe(LEGACY_STACK);
    expect(toEngineEvent(JSON.stringify({ Action: "die", id: "c0ffee" }))).toMatchObject({
      stack: LEGACY_STACK,
      resource: "",
    });
  });

  it("skips exec events, events without a container id and lines that are not JSON", () => {
    expect(toEngineEvent(line({}, "exec_start: sh"))).toBeUndefined();
    expect(toEngineEvent(JSON.stringify({ Action: "start" }))).toBeUndefined();
    expect(toEngineEvent("{not json")).toBeUndefined();
  });
});

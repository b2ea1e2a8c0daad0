import { describe, expect, it } from "vitest";
import { serverController } from "../../../../controllers/server/index.js";
import { emptyDesiredState, type ServerSpec } from "../../../../src/model/resources.js";
import { nodeState } from "../../../support/node-state.js";

const server = (name: string, ssh?: ServerSpec["ssh"]): ServerSpec => ({
  name,
  ip: "10.0.0.1",
  servicePort: 7000,
  tags: [],
  groups: [],
  childs: [],
  ...(ssh ? { ssh } : {}),
});

describe("server kind — plan", () => {
  const controller = serverController({
    connect: () => Promise.reject(new Error("the plan never connects")),
    image: () => Promise.reject(new Error("the plan never loads the image")),
    credentials: () => Promise.reject(new Error("the plan needs no credentials")),
  });

  it("brings up only servers with an ssh block whose node is not in the tree", () => {
    const desired = {
      ...emptyDesiredState(),
      servers: {
        up: server("up", { host: "10.0.0.1", port: 22 }),
        down: server("down", { host: "10.0.0.2", port: 22, user: "ops" }),
        manual: server("manual"),
      },
    };
    const { actions } = controller.plan(desired, [nodeState("up")]);
    expect(actions.map((a) => a.resource)).toEqual(["down"]);
    expect(controller.describe(actions[0]!)).toMatchObject({
      effect: "create",
      verb: "server",
      target: "down",
    });
    expect(controller.actionJson(actions[0]!)).toMatchObject({ server: "down", ssh: "ops@10.0.0.2:22" });
  });
});

describe("server kind — preflight", () => {
  it("a node image missing on this machine fails once, before any server is connected to", async () => {
    let connects = 0;
    const missing = new Error("the node image treescale/node:0.1.0 is not on this machine's Docker engine");
    const controller = serverController({
      connect: () => {
        connects += 1;
        return Promise.reject(new Error("never reached"));
      },
      image: async () => ({
        tag: "treescale/node:0.1.0",
        id: () => Promise.reject(missing),
        save: () => {
          throw new Error("never saved");
        },
      }),
      credentials: () => Promise.reject(new Error("no credentials needed")),
    });
    await expect(controller.preflight()).rejects.toBe(missing);
    expect(connects).toBe(0);
  });
});

describe("server kind — execute", () => {
  it("without the tree's credentials here, fails each server saying how to get them, and dials nothing", async () => {
    let dialed = 0;
    const controller = serverController({
      connect: () => {
        dialed += 1;
        return Promise.reject(new Error("must not dial"));
      },
      image: () => Promise.reject(new Error("must not load the image")),
      credentials: () =>
        Promise.reject(new Error("no credentials for this tree on this machine: run treescale build")),
    });
    const desired = {
      ...emptyDesiredState(),
      servers: { down: server("down", { host: "10.0.0.2", port: 22 }) },
    };
    const { actions } = controller.plan(desired, []);
    const finished: unknown[] = [];
    const outcomes = await controller.execute(actions, {
      bus: { request: async () => undefined },
      deadline: Date.now() + 1000,
      progress: { started() {}, finished: (o) => finished.push(o), activity() {} },
      signal: new AbortController().signal,
    });
    expect(outcomes).toMatchObject([
      { ok: false, code: "NO_CONTEXT", error: expect.stringContaining("treescale build") },
    ]);
    expect(finished).toHaveLength(1);
    expect(dialed).toBe(0);
  });
});

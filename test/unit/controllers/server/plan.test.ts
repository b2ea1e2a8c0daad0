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

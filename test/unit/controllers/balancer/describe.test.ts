import { describe, expect, it } from "vitest";
import { balancerRows } from "../../../../controllers/balancer/describe.js";
import { render } from "../../../../src/cli/row-output.js";
import type { RowContext } from "../../../../src/reconcile/controller.js";
import { balancerSpec, container, endpoint, NODE, observedBalancer, rules, STACK } from "./fixtures.js";

describe("get balancers — rows", () => {
  const service = observedBalancer("front", rules({ endpoints: [endpoint("172.17.0.2", 80)] }), {
    draining: [{ address: "172.17.0.3", port: 80, since: "", connections: 2, elapsedMs: 100 }],
    connections: { "172.17.0.2:80": 5, "172.17.0.3:80": 2 },
  });
  const context: RowContext = {
    peers: (node, kind) =>
      node === NODE && kind === "container"
        ? [
            container("web", 1, "172.17.0.2"),
            container("web", 2, undefined, { state: "exited" }),
            container("web", 3, "172.17.0.4", { health: "unhealthy" }),
          ]
        : [],
    entry: (node, stack, kind, name) =>
      node === NODE && stack === STACK && kind === "balancer" && name === "front"
        ? { spec: balancerSpec("front"), replicas: [1] }
        : undefined,
  };

  it("lists each backend as active, draining or down, with its weight and open connections", () => {
    const [row] = balancerRows([service], context);
    expect(row?.backends).toEqual([
      { address: "172.17.0.2:80", weight: 1, state: "active", connections: 5 },
      { address: "172.17.0.3:80", weight: 0, state: "draining", connections: 2 },
      { address: "shop_web_2_node1", weight: 0, state: "down", connections: null },
      { address: "shop_web_3_node1", weight: 0, state: "down", connections: null },
    ]);
  });

  it("prints the backends on one line in the table, not as [object Object]", async () => {
    const text = await render(balancerRows([service], context), "table", {
      wide: [],
      nameOf: (row) => `balancer/${String(row.name)}`,
    });
    expect(text).toContain("172.17.0.2:80 1 active 5, 172.17.0.3:80 0 draining 2, shop_web_2_node1 0 down");
    expect(text).not.toContain("[object Object]");
  });
});

import { describe, expect, it } from "vitest";
import { resolveEndpoints } from "../../../../controllers/balancer/endpoints.js";
import { balancerSpec, container, endpoint } from "./fixtures.js";

const byContainer = balancerSpec("front", { backends: [{ container: "web", port: 80, weight: 2 }] });

describe("resolveEndpoints", () => {
  it("selects by container name in the balancer's own stack only", () => {
    const resolved = resolveEndpoints(byContainer, "shop", [
      container("web", 1, "172.17.0.2"),
      container("web", 1, "172.17.0.9", { stack: "other" }),
      container("api", 1, "172.17.0.3"),
    ]);
    expect(resolved).toEqual({
      endpoints: [endpoint("172.17.0.2", 80, 2, "shop_web_1_node1")],
      unreachable: [],
      matching: 1,
      down: [],
    });
  });

  it("selects by image in any stack", () => {
    const spec = balancerSpec("front", { backends: [{ image: "local/api:2", port: 8080, weight: 1 }] });
    const resolved = resolveEndpoints(spec, "shop", [
      container("api", 1, "172.17.0.2", { image: "local/api:2" }),
      container("api", 1, "172.17.0.3", { image: "local/api:2", stack: "other" }),
      container("api", 2, "172.17.0.4", { image: "local/api:1" }),
    ]);
    expect(resolved.endpoints.map((e) => `${e.target} ${e.address}:${e.port}`)).toEqual([
      "shop_api_1_node1 172.17.0.2:8080",
      "other_api_1_node1 172.17.0.3:8080",
    ]);
    expect(resolved.matching).toBe(2);
  });

  it("sends traffic only to running containers that are not unhealthy or still starting", () => {
    const resolved = resolveEndpoints(byContainer, "shop", [
      container("web", 1, "172.17.0.2", { health: "healthy" }),
      container("web", 2, "172.17.0.3"),
      container("web", 3, "172.17.0.4", { health: "unhealthy" }),
      container("web", 4, "172.17.0.5", { health: "starting" }),
      container("web", 5, "172.17.0.6", { state: "restarting" }),
      container("web", 6, "172.17.0.7", { state: "exited" }),
      container("web", 7, "172.17.0.8", { state: "paused" }),
    ]);
    expect(resolved.endpoints.map((e) => e.address)).toEqual(["172.17.0.2", "172.17.0.3"]);
    expect(resolved.matching).toBe(7);
    expect(resolved.unreachable).toEqual([]);
  });

  it("lists a Ready match without an address as unreachable instead of skipping it silently", () => {
    const resolved = resolveEndpoints(byContainer, "shop", [
      container("web", 2, undefined),
      container("web", 1, "172.17.0.2"),
      container("web", 3, undefined, { state: "exited" }),
    ]);
    expect(resolved.endpoints.map((e) => e.address)).toEqual(["172.17.0.2"]);
    // Not Ready: no address expected, so not reported.
    expect(resolved.unreachable).toEqual(["shop_web_2_node1"]);
  });

  it("collapses two backends that name the same container and port into one endpoint (the first's weight)", () => {
    const spec = balancerSpec("front", {
      backends: [
        { container: "web", port: 80, weight: 3 },
        { image: "local/web:1", port: 80, weight: 5 },
        { container: "web", port: 8080, weight: 1 },
      ],
    });
    const resolved = resolveEndpoints(spec, "shop", [container("web", 1, "172.17.0.2")]);
    expect(resolved.endpoints).toEqual([
      endpoint("172.17.0.2", 80, 3, "shop_web_1_node1"),
      endpoint("172.17.0.2", 8080, 1, "shop_web_1_node1"),
    ]);
  });

  it("counts and reports a container two backends name only once", () => {
    const spec = balancerSpec("front", {
      backends: [
        { container: "web", port: 80, weight: 1 },
        { container: "web", port: 8080, weight: 1 },
      ],
    });
    const resolved = resolveEndpoints(spec, "shop", [container("web", 1, undefined)]);
    expect(resolved.unreachable).toEqual(["shop_web_1_node1"]);
    expect(resolved.matching).toBe(1);
  });

  it("sorts endpoints by address numerically, then by port", () => {
    const spec = balancerSpec("front", {
      backends: [
        { container: "web", port: 8080, weight: 1 },
        { container: "web", port: 80, weight: 1 },
      ],
    });
    const resolved = resolveEndpoints(spec, "shop", [
      container("web", 1, "172.17.0.10"),
      container("web", 2, "172.17.0.9"),
      container("web", 3, "172.17.1.2"),
      container("web", 4, "9.0.0.1"),
    ]);
    expect(resolved.endpoints.map((e) => `${e.address}:${e.port}`)).toEqual([
      "9.0.0.1:80",
      "9.0.0.1:8080",
      "172.17.0.9:80",
      "172.17.0.9:8080",
      "172.17.0.10:80",
      "172.17.0.10:8080",
      "172.17.1.2:80",
      "172.17.1.2:8080",
    ]);
  });

  it("matches nothing when no container is declared by the backends", () => {
    expect(resolveEndpoints(byContainer, "shop", [container("api", 1, "172.17.0.2")])).toEqual({
      endpoints: [],
      unreachable: [],
      matching: 0,
      down: [],
    });
  });
});

describe("resolveEndpoints — containers on the nodes below", () => {
  const onChild = (replica: number, overrides: Parameters<typeof container>[3] = {}) =>
    container("web", replica, `172.18.0.${replica + 1}`, { node: "node2", ...overrides });

  it("reaches a child server's container at the child's address and the port it publishes", () => {
    const resolved = resolveEndpoints(
      byContainer,
      "shop",
      [container("web", 1, "172.17.0.2")],
      [
        {
          node: "node2",
          address: "192.168.50.2",
          items: [
            onChild(2, { published: [{ port: 80, protocol: "tcp", hostPort: 18080 }] }),
            // Bound to one address of the child only: that address, not the node's.
            onChild(3, {
              published: [{ port: 80, protocol: "tcp", hostPort: 18081, hostIp: "192.168.60.2" }],
            }),
          ],
        },
      ],
    );
    expect(resolved.endpoints.map((e) => `${e.address}:${e.port} ${e.via ?? "local"}`)).toEqual([
      "172.17.0.2:80 local",
      "192.168.50.2:18080 node2",
      "192.168.60.2:18081 node2",
    ]);
    expect(resolved.unreachable).toEqual([]);
  });

  it("reports a matching container below that has no way in, and skips one not Ready", () => {
    const resolved = resolveEndpoints(
      byContainer,
      "shop",
      [],
      [
        {
          node: "node2",
          address: "192.168.50.2",
          items: [
            onChild(1, { published: [{ port: 8080, protocol: "tcp", hostPort: 18080 }] }),
            onChild(2, { state: "exited", published: [{ port: 80, protocol: "tcp", hostPort: 18082 }] }),
          ],
        },
        {
          node: "node3",
          address: undefined,
          items: [onChild(4, { published: [{ port: 80, protocol: "tcp", hostPort: 1 }] })],
        },
      ],
    );
    expect(resolved.endpoints).toEqual([]);
    expect(resolved.unreachable).toEqual([
      "shop_web_1_node1 on node2 (tcp port 80 not published)",
      "shop_web_4_node1 on node3 (the node's address is not known)",
    ]);
    expect(resolved.matching).toBe(3);
  });
});

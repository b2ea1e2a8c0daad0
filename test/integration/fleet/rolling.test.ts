// Rolling recreate across nodes, judged by Docker health checks: a failing wave pauses the rest,
// or rolls back, as the resource's update policy says. Real node processes, real dockerd.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BusFixture, type NodeProcess } from "../../support/bus.js";
import { runCli } from "../../support/cli.js";
import { ensureTestImage, removeContainersOfNode, TEST_IMAGE, uniqueNodeName } from "../../support/docker.js";

const docker = new Docker();
const fixture = new BusFixture();
const prefix = uniqueNodeName("r");
const names = { root: `${prefix}root`, c1: `${prefix}c1`, c2: `${prefix}c2` };
let root: NodeProcess;
const ports: Record<string, number> = {};
let manifests: string;

async function writeFleet(version: string, healthy: boolean, failureAction: "pause" | "rollback") {
  const server = (name: string, tags: string, childs: string[]) =>
    `[servers.${name}]\nip = "127.0.0.1"\nservice_port = ${ports[name]}\ntags = ["${tags}"]\nchilds = [${childs.map((c) => `"${c}"`).join(", ")}]\n`;
  await writeFile(
    join(manifests, "fleet.toml"),
    `${server(names.root, "core", [names.c1, names.c2])}
${server(names.c1, "web", [])}
${server(names.c2, "web", [])}
[containers.web]
image = "${TEST_IMAGE}"
mode = "global"
command = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
env = { VERSION = "${version}" }
placement = { tags = ["web"] }
healthcheck = { test = ["CMD", "${healthy ? "true" : "false"}"], interval = "200ms", retries = 1 }
update = { max_parallel = 1, order = "stop-first", failure_action = "${failureAction}" }
`,
  );
}

const apply = () =>
  runCli(["apply", "--node", root.url, "--token", "good-token", "--timeout", "30", "-f", manifests]);

async function versionOn(node: string): Promise<string | undefined> {
  const [container] = await docker.listContainers({ filters: { label: [`treescale.node=${node}`] } });
  if (!container) return undefined;
  const info = await docker.getContainer(container.Id).inspect();
  return info.Config.Env?.find((e) => e.startsWith("VERSION="))?.slice("VERSION=".length);
}

beforeAll(async () => {
  await ensureTestImage();
  await fixture.setup();
  manifests = join(fixture.dir, "fleet");
  await mkdir(manifests);
  root = await fixture.startNode(names.root, [
    "--agent",
    "--home",
    join(fixture.dir, "root"),
    "--tag",
    "core",
  ]);
  ports[names.root] = root.port;
  for (const key of ["c1", "c2"] as const) {
    const child = await fixture.startNode(names[key], [
      "--agent",
      "--home",
      join(fixture.dir, key),
      "--tag",
      "web",
      "--parent",
      root.url,
    ]);
    ports[names[key]] = child.port;
    await child.waitForLog(/linked to parent/);
  }
}, 60_000);

afterAll(async () => {
  await fixture.teardown();
  await Promise.all(Object.values(names).map(removeContainersOfNode));
});

describe("rolling recreate across nodes", () => {
  it("waits for health checks before calling a node converged", async () => {
    await writeFleet("1", true, "pause");
    const result = await apply();
    expect(result.code).toBe(0);
    expect(await versionOn(names.c1)).toBe("1");
    expect(await versionOn(names.c2)).toBe("1");
    const [c] = await docker.listContainers({ filters: { label: [`treescale.node=${names.c1}`] } });
    expect(c?.Status).toContain("(healthy)");
  });

  it("failure_action = pause: an unhealthy first wave stops the rollout; the other node keeps the old version", async () => {
    await writeFleet("2", false, "pause");
    const result = await apply();
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(new RegExp(`✗ ${names.c1}: failed: container/web: Unhealthy`));
    expect(result.stdout).toMatch(
      new RegExp(`✗ ${names.c2}: paused: rolling update stopped after a failure in wave 1`),
    );
    expect(await versionOn(names.c1)).toBe("2");
    expect(await versionOn(names.c2)).toBe("1");
  });

  it("failure_action = rollback: the failed wave gets its previous slice back", async () => {
    await writeFleet("1", true, "pause");
    expect((await apply()).code).toBe(0);
    await writeFleet("3", false, "rollback");
    const result = await apply();
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(new RegExp(`✗ ${names.c1}: rolled-back`));
    expect(result.stdout).toMatch(new RegExp(`✗ ${names.c2}: paused`));
    expect(await versionOn(names.c1)).toBe("1");
    expect(await versionOn(names.c2)).toBe("1");
  });
});

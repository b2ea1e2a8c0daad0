// A node whose Docker engine stops answering, for real: the node reaches dockerd through a proxy the
// test freezes (a hung engine keeps its connections open and says nothing), its containers are removed
// behind its back, and what the node reports is checked while the engine is silent and after it answers.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BusFixture, type NodeProcess } from "../../support/bus.js";
import { runCli } from "../../support/cli.js";
import { ensureTestImage, removeContainersOfNode, TEST_IMAGE, uniqueNodeName } from "../../support/docker.js";
import { type EngineProxy, engineProxy } from "../../support/engine-proxy.js";
import { pollUntil } from "../../support/poll.js";

const docker = new Docker();
const fixture = new BusFixture();
const name = uniqueNodeName("hung");
let proxy: EngineProxy;
let node: NodeProcess;
let manifests = "";

const viaNode = (...args: string[]) =>
  runCli([...args, "--node", node.url, "--token", "good-token", "--connect-timeout", "10"]);

async function health(): Promise<{ code: number; body: { status: string; problems?: string[] } }> {
  const response = await fetch(`http://127.0.0.1:${node.http}/healthz`);
  return { code: response.status, body: (await response.json()) as { status: string; problems?: string[] } };
}

async function statusOf(): Promise<{ resource: string; condition: string; reason: string }[]> {
  const result = await viaNode("get", "status", "-o", "json");
  if (result.code !== 0 && !result.stdout) throw new Error(`get status failed: ${result.stderr}`);
  return JSON.parse(result.stdout);
}

beforeAll(async () => {
  await ensureTestImage();
  await fixture.setup();
  proxy = await engineProxy(join(fixture.dir, "docker.sock"));
  const before = process.env.DOCKER_HOST;
  process.env.DOCKER_HOST = proxy.dockerHost;
  try {
    node = await fixture.startNode(name, [
      "--agent",
      "--home",
      join(fixture.dir, "home"),
      "--heartbeat",
      "1000",
      "--http",
      "127.0.0.1:0",
    ]);
  } finally {
    if (before === undefined) delete process.env.DOCKER_HOST;
    else process.env.DOCKER_HOST = before;
  }
  manifests = join(fixture.dir, "app");
  await mkdir(manifests);
  await writeFile(
    join(manifests, "app.toml"),
    `stack = "hung"
[servers.${name}]
ip = "127.0.0.1"
service_port = ${node.port}

[containers.web]
image = "${TEST_IMAGE}"
replicas = 2
command = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
`,
  );
}, 60_000);

afterAll(async () => {
  proxy?.thaw();
  await fixture.teardown();
  await proxy?.close();
  await removeContainersOfNode(name);
});

describe("a node whose engine stops answering", () => {
  it("says so in get status and get nodes, fails an apply naming it, and converges once the engine answers", async () => {
    const applied = await viaNode("apply", "--timeout", "60", "-f", manifests);
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    expect((await statusOf()).map((s) => s.condition)).toEqual(["Ready"]);
    expect(await health()).toMatchObject({ code: 200, body: { status: "ok" } });

    proxy.freeze();
    const ours = await docker.listContainers({ all: true, filters: { label: [`treescale.node=${name}`] } });
    await Promise.all(ours.map((c) => docker.getContainer(c.Id).remove({ force: true })));

    const stalled = await pollUntil(
      statusOf,
      (statuses) => statuses.some((s) => s.resource === "container/web" && s.reason === "EngineUnreachable"),
      30_000,
    );
    expect(stalled).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          resource: "container/web",
          condition: "Stalled",
          reason: "EngineUnreachable",
        }),
      ]),
    );
    expect(stalled.some((s) => s.condition === "Ready")).toBe(false);
    expect(await health()).toMatchObject({
      code: 503,
      body: { status: "degraded", problems: [expect.stringMatching(/^cannot see container: /)] },
    });
    const nodes = JSON.parse((await viaNode("get", "nodes", "-o", "json")).stdout);
    expect(nodes).toMatchObject([{ name, status: expect.stringMatching(/^NotReady \(container: /) }]);

    const refused = await viaNode("apply", "--timeout", "20", "-f", manifests);
    expect(refused.code, refused.stdout + refused.stderr).toBe(1);
    expect(refused.stdout + refused.stderr).toMatch(new RegExp(`${name}.*(cannot see|did not answer)`, "s"));

    proxy.thaw();
    await pollUntil(
      async () =>
        docker.listContainers({ filters: { label: [`treescale.node=${name}`], status: ["running"] } }),
      (running) => running.length === 2,
      30_000,
    );
    const healed = await pollUntil(
      statusOf,
      (statuses) => statuses.length === 1 && statuses[0]?.condition === "Ready",
      20_000,
    );
    expect(healed).toMatchObject([{ resource: "container/web", condition: "Ready" }]);
    expect(await health()).toMatchObject({ code: 200, body: { status: "ok" } });
  });
});

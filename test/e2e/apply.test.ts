// The CLI as a user runs it, against the real dockerd.

import { spawn } from "node:child_process";
import { mkdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { createInterface } from "node:readline";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { containerName } from "../../src/model/labels.js";
import { CLI, requireBuild, runCli, scratch } from "../support/cli.js";
import {
  engineEvents,
  ensureTestImage,
  removeContainersOfNode,
  TEST_IMAGE,
  uniqueNodeName,
} from "../support/docker.js";
import { pollUntil } from "../support/poll.js";

const docker = new Docker();
const node = uniqueNodeName("e2e");
/** The stack is named after the manifests' directory (`app/`), as compose names a project. */
const cname = (resource: string, replica: number) => containerName("app", node, resource, replica);
let work: Awaited<ReturnType<typeof scratch>>;
let env: Record<string, string>;

const web = (replicas: number, greeting = "hi") => `
[containers.web]
image = "${TEST_IMAGE}"
replicas = ${replicas}
command = ["httpd", "-f", "-p", "80", "-h", "/www"]
env = { GREETING = "${greeting}" }
labels = { team = "a" }
restart = "unless-stopped"
memory = "64m"
`;

const worker = `
containers:
  worker:
    image: ${TEST_IMAGE}
    command: ["sh", "-c", "while true; do sleep 1; done"]
`;

async function containersOf(
  resource?: string,
): Promise<Map<string, { id: string; state: string; env: string[] }>> {
  const filters = [`treescale.node=${node}`, ...(resource ? [`treescale.resource=${resource}`] : [])];
  const list = await docker.listContainers({ all: true, filters: { label: filters } });
  const result = new Map<string, { id: string; state: string; env: string[] }>();
  for (const c of list) {
    const info = await docker.getContainer(c.Id).inspect();
    result.set(c.Names[0]!.replace(/^\//, ""), { id: c.Id, state: c.State, env: info.Config.Env ?? [] });
  }
  return result;
}

async function mutationsDuring(task: () => Promise<unknown>): Promise<string[]> {
  // Fractional seconds: events of the previous test, a few milliseconds earlier, must not count.
  const since = Date.now();
  await task();
  const events = await engineEvents(node, since, Date.now() + 500);
  return events
    .map((e) => e.action)
    .filter((action) => !action.startsWith("exec_") && !action.startsWith("health_status"));
}

// busybox as PID 1 ignores SIGTERM, so a grace period would only make the suite slower.
const apply = (...args: string[]) =>
  runCli(["apply", "--name", node, "--stop-timeout", "0", ...args], { env });

beforeAll(async () => {
  requireBuild();
  await ensureTestImage();
  work = await scratch();
  env = { TREESCALE_HOME: join(work.dir, "home") };
  await mkdir(join(work.dir, "app"));
  await work.write("app/web.toml", web(2));
  await work.write("app/worker.yaml", worker);
});

afterAll(async () => {
  await removeContainersOfNode(node);
  await work.remove();
});

describe("treescale apply (embedded node, real Docker)", () => {
  it("creates every declared container, prints the plan and exits 0", async () => {
    const result = await apply("-f", join(work.dir, "app"));
    expect(result.stderr).not.toMatch(/FAILED/);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`\\+ create\\s+${cname("web", 1)}`));
    expect(result.stdout).toContain("Plan: 3 to create, 0 to recreate, 0 to remove.");
    const containers = await containersOf();
    expect([...containers.keys()].sort()).toEqual([cname("web", 1), cname("web", 2), cname("worker", 1)]);
    for (const c of containers.values()) expect(c.state).toBe("running");
  });

  it("re-apply makes zero Docker mutations and keeps container IDs", async () => {
    const before = await containersOf();
    let result = { code: -1, stdout: "", stderr: "" };
    const mutations = await mutationsDuring(async () => {
      result = await apply("-f", join(work.dir, "app"));
    });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("No changes.");
    expect(mutations).toEqual([]);
    const after = await containersOf();
    expect([...after.entries()].map(([n, c]) => [n, c.id])).toEqual(
      [...before.entries()].map(([n, c]) => [n, c.id]),
    );
  });

  it("get containers lists them with node and state", async () => {
    const result = await runCli(["get", "containers", "--name", node, "-o", "json"], { env });
    expect(result.code).toBe(0);
    const rows = JSON.parse(result.stdout) as {
      name: string;
      node: string;
      state: string;
      resource: string;
    }[];
    expect(rows.map((r) => [r.name, r.node, r.state])).toEqual([
      [cname("web", 1), node, "running"],
      [cname("web", 2), node, "running"],
      [cname("worker", 1), node, "running"],
    ]);
    const status = await runCli(["get", "status", "--name", node, "-o", "json"], { env });
    expect(JSON.parse(status.stdout)).toEqual([
      expect.objectContaining({ stack: "app", resource: "container/web", condition: "Ready", ready: "2/2" }),
      expect.objectContaining({
        stack: "app",
        resource: "container/worker",
        condition: "Ready",
        ready: "1/1",
      }),
    ]);
    const table = await runCli(["get", "containers", "--name", node], { env });
    expect(table.stdout.split("\n")[0]).toMatch(/^NAME\s+STACK\s+RESOURCE\s+NODE\s+IMAGE\s+STATE/);
  });

  it("a changed env recreates only that resource", async () => {
    const workersBefore = await containersOf("worker");
    await work.write("app/web.toml", web(2, "hello"));
    const result = await apply("-f", join(work.dir, "app"));
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/~ recreate\s+\S+_web_1_\S+\s+env changed/);
    expect(result.stdout).toContain("Plan: 0 to create, 2 to recreate, 0 to remove.");
    const webs = await containersOf("web");
    for (const c of webs.values()) expect(c.env).toContain("GREETING=hello");
    expect(await containersOf("worker")).toEqual(workersBefore);
  });

  it("an embedded agent started afterwards (events without --node) keeps what apply did", async () => {
    const mutations = await mutationsDuring(async () => {
      const events = spawn(process.execPath, [CLI, "events", "--name", node, "-o", "json"], {
        env: { ...process.env, ...env },
        stdio: ["ignore", "pipe", "pipe"],
      });
      await new Promise<void>((resolve) =>
        createInterface({ input: events.stderr! }).once("line", () => resolve()),
      );
      // While it runs, get goes through the embedded node: wait until its agent reports the slice apply
      // wrote as reconciled (Ready), then stop it; nothing may have changed meanwhile.
      const statuses = await pollUntil(
        async () => {
          const out = await runCli(["get", "status", "--name", node, "-o", "json"], { env });
          return out.code === 0 ? (JSON.parse(out.stdout) as { resource: string; condition: string }[]) : [];
        },
        (rows) => rows.length === 2 && rows.every((r) => r.condition === "Ready"),
        15_000,
      );
      expect(statuses.map((r) => [r.resource, r.condition])).toEqual([
        ["container/web", "Ready"],
        ["container/worker", "Ready"],
      ]);
      const exited = new Promise((resolve) => events.once("exit", resolve));
      events.kill("SIGTERM");
      await exited;
    });
    expect(mutations).toEqual([]);
  });

  it("scales down by removing the highest replicas", async () => {
    await work.write("app/web.toml", web(1, "hello"));
    const result = await apply("-f", join(work.dir, "app"));
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/- remove\s+\S+_web_2_\S+\s+scale down to 1/);
    expect([...(await containersOf("web")).keys()]).toEqual([cname("web", 1)]);
  });

  it("reports a container removed by hand in diff (exit 1) and restores it with apply", async () => {
    const [name, victim] = [...(await containersOf("worker")).entries()][0]!;
    await docker.getContainer(victim.id).remove({ force: true });
    const diff = await runCli(["diff", "--name", node, "-f", join(work.dir, "app")], { env });
    expect(diff.code).toBe(1);
    expect(diff.stdout).toMatch(new RegExp(`\\+ create\\s+${name}\\s+missing: removed outside TreeScale`));
    // Looking changes nothing: get's embedded node reads the stored slice and says what it would do.
    const status = await runCli(["get", "status", "--name", node, "-o", "json"], { env });
    expect(JSON.parse(status.stdout)).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          resource: "container/worker",
          condition: "Reconciling",
          reason: "NotApplied",
        }),
      ]),
    );
    expect((await containersOf("worker")).has(name)).toBe(false);
    const result = await apply("-f", join(work.dir, "app"));
    expect(result.code).toBe(0);
    expect((await containersOf("worker")).get(name)?.state).toBe("running");
    const clean = await runCli(["diff", "--name", node, "-f", join(work.dir, "app")], { env });
    expect(clean.code).toBe(0);
  });

  it("restarts a container stopped by hand", async () => {
    const [, target] = [...(await containersOf("web")).entries()][0]!;
    await docker.getContainer(target.id).stop({ t: 0 });
    const result = await apply("-f", join(work.dir, "app"));
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/> start\s+\S+_web_1_\S+\s+container is exited/);
    expect((await containersOf("web")).get(cname("web", 1))).toMatchObject({
      id: target.id,
      state: "running",
    });
  });

  it("prune removes only what left the manifests, never an unlabeled or foreign container", async () => {
    const unlabeled = await docker.createContainer({
      Image: TEST_IMAGE,
      name: `${node}-handmade`,
      Cmd: ["sleep", "60"],
      Labels: { "treescale.node": node },
    });
    const foreign = await docker.createContainer({
      Image: TEST_IMAGE,
      name: cname("foreign", 1),
      Cmd: ["sleep", "60"],
      Labels: {
        "treescale.managed": "true",
        "treescale.stack": "app",
        "treescale.node": node,
        "treescale.resource": "foreign",
        "treescale.replica": "1",
        "treescale.hash": "x",
      },
    });
    try {
      await rm(join(work.dir, "app/worker.yaml"));
      const withoutPrune = await apply("-f", join(work.dir, "app"));
      expect(withoutPrune.code).toBe(0);
      expect(withoutPrune.stdout).toContain("run with --prune to remove it");
      expect(await containersOf("worker")).toHaveProperty("size", 1);

      const pruned = await apply("-f", join(work.dir, "app"), "--prune");
      expect(pruned.code).toBe(0);
      expect(pruned.stdout).toMatch(/- remove\s+\S+_worker_1_\S+\s+left the manifests/);
      expect(pruned.stdout).toMatch(
        new RegExp(`! kept\\s+${cname("foreign", 1)}\\s+not in this node.s record`),
      );
      expect(await containersOf("worker")).toHaveProperty("size", 0);
      await expect(unlabeled.inspect()).resolves.toBeTruthy();
      await expect(foreign.inspect()).resolves.toBeTruthy();
      expect(await containersOf("web")).toHaveProperty("size", 1);
    } finally {
      await unlabeled.remove({ force: true });
      await foreign.remove({ force: true });
    }
  });

  it("refuses to prune everything when no containers are declared, unless --allow-empty", async () => {
    const empty = await work.write("empty.toml", '[servers.elsewhere]\nip = "127.0.0.1"\n');
    const before = await containersOf();
    const refused = await apply("-f", empty, "--stack", "app", "--prune");
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain("refusing to prune everything");
    expect(refused.stderr).toContain("--allow-empty");
    expect(await containersOf()).toEqual(before);
    const dryRun = await apply("-f", empty, "--stack", "app", "--prune", "--allow-empty", "--dry-run");
    expect(dryRun.code).toBe(0);
    expect(dryRun.stdout).toMatch(/Plan: 0 to create, 0 to recreate, \d+ to remove\./);
  });

  it("a bad manifest exits 2 naming file, line and field, and changes nothing", async () => {
    const before = await containersOf();
    const bad = await work.write("bad.toml", '[containers.api]\nimage = "x"\nreplicas = "three"\n');
    const mutations = await mutationsDuring(async () => {
      const result = await apply("-f", join(work.dir, "app"), "-f", bad);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain(`${bad}:3:`);
      expect(result.stderr).toContain("containers.api.replicas");
      expect(result.stderr).toContain("nothing was changed");
    });
    expect(mutations).toEqual([]);
    expect(await containersOf()).toEqual(before);
  });

  it("--dry-run prints the plan and changes nothing", async () => {
    await work.write("app/web.toml", web(3, "hello"));
    const mutations = await mutationsDuring(async () => {
      const result = await apply("-f", join(work.dir, "app"), "--dry-run");
      expect(result.code).toBe(0);
      expect(result.stdout).toContain("Plan: 2 to create");
    });
    expect(mutations).toEqual([]);
  });

  it("-o json reports plan and outcomes for scripts, reading the manifest from stdin", async () => {
    const result = await runCli(["apply", "--name", node, "--stack", "app", "-f", "-", "-o", "json"], {
      env,
      stdin: web(3, "hello"),
    });
    expect(result.code).toBe(0);
    const report = JSON.parse(result.stdout) as {
      converged: boolean;
      actions: { ok: boolean; action: string }[];
    };
    expect(report.converged).toBe(true);
    expect(report.actions.map((o) => [o.action, o.ok])).toEqual([
      ["create", true],
      ["create", true],
    ]);
  });

  it("a missing image fails only its own containers, names them, and exits 1", async () => {
    const file = await work.write(
      "broken-image.toml",
      `${web(3, "hello")}\n[containers.ghost]\nimage = "local/does-not-exist:1"\ncommand = ["sleep", "60"]\n`,
    );
    const result = await apply("-f", file, "--stack", "app");
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(
      new RegExp(
        `✗ ${node}: failed: container/ghost: ImageUnavailable: ${cname("ghost", 1)}: .*local/does-not-exist:1`,
      ),
    );
    expect(result.stderr).toMatch(new RegExp(`${cname("ghost", 1)}: create FAILED`));
    expect(await containersOf("web")).toHaveProperty("size", 3);
  });

  it("Docker unreachable: exit 1 with what was tried and how to fix it", async () => {
    const result = await runCli(["apply", "--name", node, "-f", join(work.dir, "app")], {
      env: { ...env, DOCKER_HOST: "unix:///nonexistent/docker.sock" },
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("/nonexistent/docker.sock");
    expect(result.stderr).toMatch(/dockerd/);
    // For diff, 1 means "differences": a failure to compute one is 2.
    const diff = await runCli(["diff", "--name", node, "-f", join(work.dir, "app")], {
      env: { ...env, DOCKER_HOST: "unix:///nonexistent/docker.sock" },
    });
    expect(diff.code).toBe(2);
    expect(diff.stderr).toContain("/nonexistent/docker.sock");
  });

  it("validate exits 0 with counts, and the original seed files load unchanged", async () => {
    const seed = new URL("../../manifests/seed/", import.meta.url).pathname;
    const result = await runCli(["validate", "-f", seed], { env });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe("2 files valid: 0 containers, 2 servers, 1 balancer.\n");
  });

  it("usage errors exit 2", async () => {
    expect((await runCli(["apply"], { env })).code).toBe(2);
    expect((await runCli(["apply", "-f", "x", "-o", "xml"], { env })).code).toBe(2);
    expect((await runCli(["apply", "-f", "x", "--parallel", "0"], { env })).code).toBe(2);
    const missing = await runCli(["validate", "-f", join(work.dir, "nope.toml")], { env });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain("nope.toml");
  });
});

// A small fleet of real agent nodes for fault tests: nodes with a --home each (or one the test gives),
// manifests written per test, and the CLI's apply and `get status` run against the root as a user would.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import Docker from "dockerode";
import { containerName } from "../../src/model/labels.js";
import { BusFixture, type NodeProcess } from "./bus.js";
import { applyThrough, type CliResult, runCli } from "./cli.js";
import { removeContainersOfNode, TEST_IMAGE, uniqueNodeName } from "./docker.js";

/** sh as PID 1 with a TERM trap stops at once instead of waiting out the grace period. */
const COMMAND = `["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]`;

/** The stack is named after the manifests' directory. */
export const FAULT_STACK = "faults";

export type StatusRow = {
  node: string;
  resource: string;
  condition: string;
  reason?: string;
  message?: string;
  ready?: string;
  generation?: number;
};

export type FleetNodeOptions = {
  /** The node's --home (default: a directory of the fixture's own). */
  home?: string;
  /** Key of the parent node, started before. */
  parent?: string;
  /** The address the node dials its parent at (default the parent's URL), e.g. 127.0.0.2:port. */
  parentAddress?: string;
  port?: number;
  tag?: string;
  /** Extra environment for the node process (DOCKER_HOST for a test's own engine). */
  env?: Record<string, string>;
  args?: string[];
};

export class FaultFleet {
  readonly bus = new BusFixture();
  readonly nodes = new Map<string, NodeProcess>();
  readonly names = new Map<string, string>();
  readonly #tags = new Map<string, string>();
  readonly #prefix: string;
  manifests = "";

  constructor(prefix: string) {
    this.#prefix = uniqueNodeName(prefix);
  }

  async setup(): Promise<void> {
    await this.bus.setup();
    this.manifests = join(this.bus.dir, FAULT_STACK);
    await mkdir(this.manifests);
  }

  /** Kills every node, then removes the containers they made on the machine's engine. */
  async teardown(): Promise<void> {
    await this.bus.teardown();
    await Promise.all([...this.names.values()].map((name) => removeContainersOfNode(name)));
  }

  name(key: string): string {
    let name = this.names.get(key);
    if (!name) {
      name = `${this.#prefix}${key}`;
      this.names.set(key, name);
    }
    return name;
  }

  node(key: string): NodeProcess {
    const node = this.nodes.get(key);
    if (!node) throw new Error(`node ${key} is not started`);
    return node;
  }

  home(key: string): string {
    return join(this.bus.dir, `home-${key}`);
  }

  async startNode(key: string, options: FleetNodeOptions = {}): Promise<NodeProcess> {
    const tag = options.tag ?? "web";
    this.#tags.set(key, tag);
    // 1 s heartbeats (BusFixture's 100 ms is for bus tests): a CLI client on a loaded machine would
    // otherwise take a busy agent node for a silent one.
    const args = ["--agent", "--home", options.home ?? this.home(key), "--resync", "5", "--tag", tag];
    args.push("--heartbeat", "1000");
    if (options.parent) args.push("--parent", options.parentAddress ?? this.node(options.parent).url);
    args.push(...(options.args ?? []));
    // BusFixture spawns with this process's environment: set what the node needs for the spawn only.
    const saved = Object.entries(options.env ?? {}).map(([key, value]) => {
      const before = process.env[key];
      process.env[key] = value;
      return [key, before] as const;
    });
    try {
      const node = await this.bus.startNode(this.name(key), args, options.port ?? 0);
      this.nodes.set(key, node);
      return node;
    } finally {
      for (const [key, before] of saved) {
        if (before === undefined) delete process.env[key];
        else process.env[key] = before;
      }
    }
  }

  /** Restarts a node that was killed, on the same port and home, with the same options. */
  async restartNode(key: string, options: FleetNodeOptions = {}): Promise<NodeProcess> {
    const port = this.node(key).port;
    await this.node(key).stop();
    return this.startNode(key, { ...options, port });
  }

  /**
   * Writes servers.toml (every node started, the root `root` first, `childs` as given) and
   * web.toml: `replicas` of `web` placed on the nodes tagged `web`.
   */
  async writeFleet(options: { replicas: number; greeting?: string; childs?: Record<string, string[]> }) {
    const servers = [...this.nodes.keys()]
      .map(
        (key) => `[servers.${this.name(key)}]
ip = "127.0.0.1"
service_port = ${this.node(key).port}
tags = ["${this.#tags.get(key) ?? "web"}"]
childs = [${(options.childs?.[key] ?? []).map((child) => `"${this.name(child)}"`).join(", ")}]
`,
      )
      .join("\n");
    await writeFile(join(this.manifests, "servers.toml"), servers);
    await writeFile(
      join(this.manifests, "web.toml"),
      `[containers.web]
image = "${TEST_IMAGE}"
replicas = ${options.replicas}
command = ${COMMAND}
env = { GREETING = "${options.greeting ?? "hi"}" }
placement = { tags = ["web"] }
`,
    );
  }

  apply(root = "root", ...args: string[]): Promise<CliResult> {
    return applyThrough(this.node(root).url, this.manifests, ...args);
  }

  async status(root = "root"): Promise<StatusRow[]> {
    const result = await runCli([
      "get",
      "status",
      "-o",
      "json",
      "--node",
      this.node(root).url,
      "--token",
      "good-token",
    ]);
    if (result.code !== 0) throw new Error(`get status failed (${result.code}): ${result.stderr}`);
    return JSON.parse(result.stdout) as StatusRow[];
  }

  containerName(key: string, replica: number, resource = "web"): string {
    return containerName(FAULT_STACK, this.name(key), resource, replica);
  }
}

/** Names of the containers labelled for `node` on an engine (the machine's unless given), sorted. */
export async function containersOf(
  node: string,
  options: { docker?: Docker; state?: string } = {},
): Promise<string[]> {
  const docker = options.docker ?? new Docker();
  const list = await docker.listContainers({
    all: true,
    filters: { label: [`treescale.node=${node}`], ...(options.state ? { status: [options.state] } : {}) },
  });
  return list.map((c) => c.Names[0]!.slice(1)).sort();
}

// container.stats and /metrics from a real node on the real dockerd: figures arrive while someone
// subscribes, and the engine's stats are not asked for while nobody does (calls counted through the driver).
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { containerController } from "../../../controllers/container/index.js";
import { connect, type Message } from "../../../src/bus/client/index.js";
import { DockerEngine } from "../../../src/drivers/docker.js";
import { DockerEventSource } from "../../../src/drivers/docker-events.js";
import type { ContainerStatsSource, EngineCallOptions } from "../../../src/drivers/engine.js";
import type { ContainerStatsPayload, ContainerUsage } from "../../../src/model/usage.js";
import { NodeDaemon } from "../../../src/node/node-daemon.js";
import { ensureTestImage, removeContainersOfNode, TEST_IMAGE, uniqueNodeName } from "../../support/docker.js";
import { pollUntil } from "../../support/poll.js";
import { containerSpec } from "../../support/specs.js";

/** The Docker driver's stats, counted: the test's proof that nobody watching means no stats calls. */
class CountingStats implements ContainerStatsSource {
  readonly #engine: DockerEngine;
  oneShots = 0;
  streamsOpened = 0;
  streamsOpen = 0;
  constructor(engine: DockerEngine) {
    this.#engine = engine;
  }
  stats(id: string, options?: EngineCallOptions): Promise<ContainerUsage> {
    this.oneShots++;
    return this.#engine.stats(id, options);
  }
  watchStats(id: string, onUsage: (usage: ContainerUsage) => void, onEnd: (error?: unknown) => void) {
    this.streamsOpened++;
    this.streamsOpen++;
    let open = true;
    const close = () => {
      if (open) this.streamsOpen--;
      open = false;
    };
    const stop = this.#engine.watchStats(id, onUsage, (error) => {
      close();
      onEnd(error);
    });
    return () => {
      close();
      stop();
    };
  }
}

const TOKEN = "stats-token";
const STACK = "mon";
const REPLICAS = 3;
let home: string;
let node: string;
let daemon: NodeDaemon;
let stats: CountingStats;

beforeAll(async () => {
  await ensureTestImage();
  home = await mkdtemp(join(tmpdir(), "treescale-stats-"));
  node = uniqueNodeName("stats");
  const engine = new DockerEngine();
  stats = new CountingStats(engine);
  daemon = new NodeDaemon({
    name: node,
    listen: { host: "127.0.0.1", port: 0 },
    http: { host: "127.0.0.1", port: 0 },
    tokens: new Set([TOKEN]),
    home,
    heal: true,
    controllers: [
      containerController({
        drivers: () => ({ engine, events: new DockerEventSource(), stats }),
        stopTimeoutSeconds: 0,
      }),
    ],
  });
  await daemon.start();
  const answer = await daemon.agent!.applySlice({
    stack: STACK,
    generation: 1,
    prune: true,
    resources: {
      "container/web": {
        spec: containerSpec("web", { image: TEST_IMAGE, command: ["sleep", "3600"], replicas: REPLICAS }),
        replicas: Array.from({ length: REPLICAS }, (_, i) => i + 1),
      },
    },
  });
  expect(answer).toMatchObject({ accepted: true });
  await pollUntil(
    async () => daemon.agent!.state().stacks[STACK]?.statuses[0]?.ready ?? 0,
    (ready) => ready === REPLICAS,
    20_000,
  );
}, 60_000);

afterAll(async () => {
  await daemon?.stop();
  await removeContainersOfNode(node);
  await rm(home, { recursive: true, force: true });
});

describe("link metrics of a real two-node tree", () => {
  it("a child that goes down shows as down, with its detection time", async () => {
    const secret = Buffer.from("stats-cluster-secret");
    const root = new NodeDaemon({
      name: `${node}-root`,
      listen: { host: "127.0.0.1", port: 0 },
      http: { host: "127.0.0.1", port: 0 },
      tokens: new Set([TOKEN]),
      clusterSecret: secret,
      home,
      heal: true,
      controllers: [],
    });
    await root.start();
    const child = new NodeDaemon({
      name: `${node}-child`,
      listen: { host: "127.0.0.1", port: 0 },
      parent: root.node.address,
      tokens: new Set([TOKEN]),
      clusterSecret: secret,
      home,
      heal: true,
      controllers: [],
    });
    try {
      await child.start();
      const scrape = () =>
        fetch(`http://127.0.0.1:${root.node.httpListenAddress!.port}/metrics`).then((response) =>
          response.text(),
        );
      const up = `treescale_child_link_up{node="${node}-root",child="${node}-child"}`;
      expect(await pollUntil(scrape, (text) => text.includes(`${up} 1`))).toContain(`${up} 1`);
      await child.stop();
      const text = await pollUntil(scrape, (t) => t.includes(`${up} 0`));
      expect(text).toContain(`${up} 0`);
      expect(text).toContain(`treescale_child_link_down_total{node="${node}-root",child="${node}-child"} 1`);
      expect(text).toContain(`treescale_link_failure_detection_seconds_count{node="${node}-root"} 1`);
      expect(text).toMatch(/treescale_link_last_failure_detection_seconds\{[^}]*\} [0-9.]+/);
    } finally {
      await child.stop();
      await root.stop();
    }
  });
});

describe("container stats from the engine (real dockerd)", () => {
  it("nobody subscribed: the node never asks the engine for stats", async () => {
    await sleep(2500);
    expect(stats).toMatchObject({ oneShots: 0, streamsOpened: 0 });
    expect(daemon.stats?.following).toBe(false);
  });

  it("a subscriber to container.stats gets every container with CPU and memory within seconds; leaving stops the streams", async () => {
    const client = await connect({
      url: daemon.node.describe().listen,
      token: TOKEN,
      events: ["container.stats"],
    });
    const received: ContainerStatsPayload[] = [];
    client.onMessage((message: Message) => received.push(message.json<ContainerStatsPayload>()));
    try {
      const complete = await pollUntil(
        async () =>
          received.find(
            (payload) =>
              payload.containers.length === REPLICAS &&
              payload.containers.every((row) => row.cpuPercent !== null && row.memoryBytes !== null),
          ),
        (found) => found !== undefined,
        10_000,
      );
      expect(complete).toBeDefined();
      expect(complete!.node).toBe(node);
      expect(Number.isNaN(Date.parse(complete!.at))).toBe(false);
      expect(complete!.error).toBeUndefined();
      expect(complete!.containers.map((row) => [row.stack, row.resource, row.replica]).sort()).toEqual([
        [STACK, "web", 1],
        [STACK, "web", 2],
        [STACK, "web", 3],
      ]);
      for (const row of complete!.containers) {
        expect(row.memoryBytes).toBeGreaterThan(0);
        expect(row.memoryLimitBytes).toBeGreaterThan(row.memoryBytes!);
        expect(row.cpuPercent).toBeGreaterThanOrEqual(0);
        expect(row.netRxBytes).not.toBeNull();
        expect(row.name).toContain(node);
      }
      expect(stats.streamsOpen).toBe(REPLICAS);
      // At most one snapshot a second: count what arrived over 3 s.
      const before = received.length;
      await sleep(3000);
      expect(received.length - before).toBeLessThanOrEqual(4);
      expect(received.length - before).toBeGreaterThanOrEqual(2);
    } finally {
      await client.close();
    }
    await pollUntil(
      async () => stats.streamsOpen,
      (open) => open === 0,
      5000,
    );
    expect(stats.streamsOpen).toBe(0);
    expect(daemon.stats?.following).toBe(false);
  });

  it("/metrics shows a series per container, sampled on the scrape", async () => {
    const http = daemon.node.httpListenAddress!;
    const oneShotsBefore = stats.oneShots;
    const text = await (await fetch(`http://127.0.0.1:${http.port}/metrics`)).text();
    expect(text).toContain(`treescale_container_stats_up{node="${node}"} 1`);
    for (let replica = 1; replica <= REPLICAS; replica++) {
      expect(text).toMatch(
        new RegExp(
          `treescale_container_memory_bytes\\{node="${node}",stack="${STACK}",resource="web",replica="${replica}",container="[^"]+"\\} [1-9]`,
        ),
      );
      expect(text).toMatch(
        new RegExp(`treescale_container_cpu_percent\\{[^}]*replica="${replica}"[^}]*\\} [0-9.]+`),
      );
    }
    expect(stats.oneShots - oneShotsBefore).toBe(REPLICAS);
    // The agent's own figures: the reconciles that created the replicas, their actions, the queue.
    expect(text).toMatch(
      new RegExp(`treescale_reconcile_duration_seconds_count\\{node="${node}",kind="container"\\} [1-9]`),
    );
    expect(text).toContain(
      `treescale_reconcile_duration_seconds_bucket{node="${node}",kind="container",le="+Inf"}`,
    );
    expect(text).toMatch(
      new RegExp(`treescale_actions_total\\{node="${node}",kind="container",outcome="ok",code=""\\} [1-9]`),
    );
    expect(text).toMatch(new RegExp(`treescale_work_queue_depth\\{node="${node}"\\} \\d+`));
    expect(text).not.toContain(TOKEN);
    // A scrape right behind it is served from the same answer.
    await fetch(`http://127.0.0.1:${http.port}/metrics`).then((response) => response.text());
    expect(stats.oneShots - oneShotsBefore).toBe(REPLICAS);
  });
});

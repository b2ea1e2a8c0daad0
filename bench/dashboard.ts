// `npm run bench -- dashboard [--containers=500] [--runs=5] [--seconds=10]`: the page in Chromium with
// 500 containers, through a real node's HTTP port and WebSocket. The agent's answers are made here (500
// containers on one node, as agent.state gives them; a container.stats snapshot of all 500 once a
// second, as a node sends them), so the figures are the page's and the bus's, not an engine's.
// - First full render: from the token's submit to every container's row on screen. The peer: the same
//   rows as one static HTML table set with innerHTML in the same browser, what drawing them costs at all.
// - Live updates: with the containers view open and a snapshot arriving every second, the page's main-
//   thread busy time per second (Chromium's own TaskDuration, script, style and layout, over a window)
//   and its frame intervals. The peer: the same snapshot parsed and its figures written into a static
//   500-row table with textContent, once a second in the same browser: what showing them costs at all.
import { writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type CDPSession, chromium, type Page } from "playwright-core";
import { BusClient } from "../src/bus/client/index.js";
import type { ObservedContainer } from "../src/model/observed.js";
import { CONTAINER_STATS_EVENT, type ContainerStatsPayload } from "../src/model/usage.js";
import type { NodeState } from "../src/model/wire.js";
import { startNodeProcess, stopProcess } from "./support/node-process.js";
import { median, percentile, printTable } from "./support/timing.js";

const CLI = fileURLToPath(new URL("../cli/treescale.js", import.meta.url));
const TOKEN = "bench-dashboard-token";

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer().listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
    server.on("error", reject);
  });
}

function nodeState(node: string, count: number): NodeState {
  const items: ObservedContainer[] = Array.from({ length: count }, (_, index) => ({
    id: `${index.toString(16).padStart(12, "0")}${"a".repeat(52)}`,
    name: `bench_web_${index + 1}_${node}`,
    node,
    stack: "bench",
    resource: "web",
    replica: index + 1,
    hash: "h",
    fieldHashes: {},
    image: "local/busybox:1",
    state: "running",
    createdAt: new Date().toISOString(),
    restarts: index % 3,
  }));
  return { node, tags: [], children: [], observed: { container: { synced: true, items } }, stacks: {} };
}

/** A snapshot of every container's figures, as a node publishes on container.stats once a second. */
function statsSnapshot(state: NodeState, tick: number): ContainerStatsPayload {
  const items = (state.observed.container?.items ?? []) as ObservedContainer[];
  return {
    node: state.node,
    at: new Date().toISOString(),
    containers: items.map((c, index) => ({
      id: c.id,
      name: c.name,
      stack: c.stack,
      resource: c.resource,
      replica: c.replica,
      // Figures that move every second, as live containers' do.
      cpuPercent: ((index * 7 + tick * 13) % 1000) / 10,
      memoryBytes: (20 + ((index + tick) % 50)) * 1024 * 1024,
      memoryLimitBytes: 256 * 1024 * 1024,
      netRxBytes: 1000 * tick + index,
      netTxBytes: 500 * tick + index,
      blockReadBytes: 4096 * index,
      blockWriteBytes: 4096 * tick,
    })),
  };
}

type LoadFigures = {
  /** Wall time of the main thread's tasks per second (a loaded machine's preemption included). */
  busyMsPerSecond: number;
  /** The main thread's CPU time per second. */
  cpuMsPerSecond: number;
  scriptMs: number;
  styleLayoutMs: number;
  frames: number[];
};

/** Chromium's own accounting of the page's main thread over `seconds`, and the frames drawn meanwhile. */
async function mainThreadOver(page: Page, cdp: CDPSession, seconds: number): Promise<LoadFigures> {
  const metrics = async () => {
    const { metrics } = await cdp.send("Performance.getMetrics");
    return Object.fromEntries(metrics.map((m) => [m.name, m.value])) as Record<string, number>;
  };
  await page.evaluate(`(() => {
    const frames = (window.benchFrames = []);
    let last = performance.now();
    const tick = (now) => {
      frames.push(now - last);
      last = now;
      if (window.benchFrames === frames) requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  })()`);
  const before = await metrics();
  const wallBefore = performance.now();
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  const after = await metrics();
  const wall = (performance.now() - wallBefore) / 1000;
  const frames = (await page.evaluate(
    "(() => { const f = window.benchFrames; window.benchFrames = undefined; return f; })()",
  )) as number[];
  const per = (name: string) => (((after[name] ?? 0) - (before[name] ?? 0)) * 1000) / wall;
  return {
    busyMsPerSecond: per("TaskDuration"),
    cpuMsPerSecond: per("ThreadTime"),
    scriptMs: per("ScriptDuration"),
    styleLayoutMs: per("RecalcStyleDuration") + per("LayoutDuration"),
    frames: frames.slice(1),
  };
}

export type DashboardFigures = { header: string[]; rows: string[][] };

/**
 * Starts a node without an agent, answers for its agent from here, and measures the page; the rows
 * are ready to print (`bench monitor` prints them beside the node's own CPU).
 */
export async function measureDashboard(options: {
  count: number;
  runs: number;
  seconds: number;
}): Promise<DashboardFigures> {
  const { count, runs, seconds } = options;
  const tokens = join(tmpdir(), `treescale-bench-dashboard-${process.pid}.txt`);
  await writeFile(tokens, `${TOKEN}\n`);
  const http = await freePort();
  const node = await startNodeProcess(CLI, "benchroot", [
    "--no-agent",
    "--tokens",
    tokens,
    "--http",
    `127.0.0.1:${http}`,
  ]);
  // Answers agent.state for the node as its agent would (a client with every permission may).
  const agent = await BusClient.connect({ url: node.url, token: TOKEN, name: "bench-agent" });
  const state = nodeState(node.name, count);
  const answer = JSON.stringify(state);
  await agent.handle("agent.state", () => answer);
  let publisher: ReturnType<typeof setInterval> | undefined;
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox"],
  });
  try {
    const page = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
    const ours: number[] = [];
    const peer: number[] = [];
    for (let i = 0; i < runs; i++) {
      await page.goto(`http://127.0.0.1:${http}/#containers`);
      await page.evaluate("sessionStorage.clear()");
      await page.reload();
      await page.fill("input[name=token]", TOKEN);
      ours.push(
        await page.evaluate(
          `new Promise((resolve) => {
            const start = performance.now();
            const done = () => document.querySelectorAll("tr[data-container]").length >= ${count};
            new MutationObserver((_, observer) => {
              if (!done()) return;
              observer.disconnect();
              requestAnimationFrame(() => resolve(performance.now() - start));
            }).observe(document.body, { childList: true, subtree: true });
            document.querySelector("button[type=submit]").click();
          })`,
        ),
      );
      peer.push(
        await page.evaluate(
          `new Promise((resolve) => {
            const state = ${answer};
            const start = performance.now();
            const rows = state.observed.container.items.map((c) =>
              "<tr><td>" + [c.name, c.stack, c.resource, c.state, c.health ?? "–", 0, "–", "–", "–", "–"].join("</td><td>") + "</td></tr>");
            const host = document.createElement("div");
            host.innerHTML = "<table>" + rows.join("") + "</table>";
            document.body.append(host);
            host.getBoundingClientRect();
            requestAnimationFrame(() => { resolve(performance.now() - start); host.remove(); });
          })`,
        ),
      );
    }

    // Live: the containers view is open (it subscribed to container.stats); a snapshot every second.
    let tick = 0;
    publisher = setInterval(
      () => agent.publish(CONTAINER_STATS_EVENT, JSON.stringify(statsSnapshot(state, ++tick))),
      1000,
    );
    await page.locator("td.cpu").first().waitFor({ timeout: 10_000 });
    // Let the histories fill a little, as on a page open for a while.
    await new Promise((resolve) => setTimeout(resolve, 5000));
    const cdp = await page.context().newCDPSession(page);
    await cdp.send("Performance.enable");
    const live = await mainThreadOver(page, cdp, seconds);
    clearInterval(publisher);
    publisher = undefined;

    // The peer in a page of its own: a static table, and once a second the same snapshot parsed and
    // its figures written into the cells.
    const peerPage = await (await browser.newContext({ viewport: { width: 1400, height: 900 } })).newPage();
    const snapshots = Array.from({ length: seconds + 5 }, (_, i) => JSON.stringify(statsSnapshot(state, i)));
    await peerPage.setContent("<table id=t></table>");
    await peerPage.evaluate(`(() => {
      const items = ${answer}.observed.container.items;
      const snapshots = ${JSON.stringify(snapshots)};
      const table = document.getElementById("t");
      table.innerHTML = items.map((c) => "<tr data-name='" + c.name + "'><td>" + c.name + "</td><td></td><td></td><td></td><td></td></tr>").join("");
      const cells = new Map([...table.rows].map((row) => [row.dataset.name, row.cells]));
      let tick = 0;
      setInterval(() => {
        const snapshot = JSON.parse(snapshots[tick++ % snapshots.length]);
        for (const c of snapshot.containers) {
          const row = cells.get(c.name);
          row[1].textContent = c.cpuPercent.toFixed(1) + " %";
          row[2].textContent = (c.memoryBytes / 1048576).toFixed(1) + " MiB";
          row[3].textContent = c.netRxBytes + " / " + c.netTxBytes;
          row[4].textContent = c.blockReadBytes + " / " + c.blockWriteBytes;
        }
      }, 1000);
    })()`);
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const peerCdp = await peerPage.context().newCDPSession(peerPage);
    await peerCdp.send("Performance.enable");
    const peerLive = await mainThreadOver(peerPage, peerCdp, seconds);

    const ms = (value: number) => `${value.toFixed(1)} ms`;
    const tasks = (f: LoadFigures) => `${ms(f.busyMsPerSecond)} / ${ms(f.scriptMs)} / ${ms(f.styleLayoutMs)}`;
    const frames = (f: LoadFigures) =>
      `${ms(median(f.frames))} / ${ms(percentile(f.frames, 99))} / ${ms(Math.max(...f.frames))}`;
    return {
      header: [`the page with ${count} containers`, "figure"],
      rows: [
        [`first full render, median of ${runs} (submit → every row drawn)`, `${Math.round(median(ours))} ms`],
        ["  peer: the same rows as static HTML (innerHTML, same browser)", `${Math.round(median(peer))} ms`],
        [
          `live, stats of all ${count} each second (${seconds} s): main-thread CPU per second`,
          ms(live.cpuMsPerSecond),
        ],
        ["  tasks' wall time per second / of which script / style + layout", tasks(live)],
        ["  frame interval median / p99 / max", frames(live)],
        [
          "  peer: JSON.parse + textContent into a static table, main-thread CPU per second",
          ms(peerLive.cpuMsPerSecond),
        ],
        ["  peer: tasks' wall time per second / script / style + layout", tasks(peerLive)],
        ["  peer: frame interval median / p99 / max", frames(peerLive)],
      ],
    };
  } finally {
    clearInterval(publisher);
    await browser.close();
    await agent.close();
    await stopProcess(node.process);
  }
}

export async function run(args: string[]): Promise<void> {
  const option = (name: string, fallback: number) =>
    Number(args.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? fallback);
  const figures = await measureDashboard({
    count: option("containers", 500),
    runs: option("runs", 5),
    seconds: option("seconds", 10),
  });
  printTable(figures.header, figures.rows);
}

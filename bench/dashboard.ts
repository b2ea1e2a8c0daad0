// `npm run bench -- dashboard [--containers=500] [--runs=5]`: the page's time to first full render in
// Chromium, from the token's submit to every container's row on screen, through a real node's HTTP
// port and WebSocket. The agent's answer is made here (500 containers on one node, as agent.state
// gives them), so the figure is the page's and the bus's, not an engine's listing. The peer: the same
// rows as one static HTML table set with innerHTML in the same browser, what drawing them costs at all.
import { writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { BusClient } from "../src/bus/client/index.js";
import type { ObservedContainer } from "../src/model/observed.js";
import type { NodeState } from "../src/model/wire.js";
import { startNodeProcess, stopProcess } from "./support/node-process.js";
import { median, printTable } from "./support/timing.js";

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

export async function run(args: string[]): Promise<void> {
  const option = (name: string, fallback: number) =>
    Number(args.find((a) => a.startsWith(`--${name}=`))?.split("=")[1] ?? fallback);
  const count = option("containers", 500);
  const runs = option("runs", 5);
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
  const answer = JSON.stringify(nodeState(node.name, count));
  await agent.handle("agent.state", () => answer);
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
    const format = (values: number[]) => `${Math.round(median(values))} ms`;
    printTable(
      ["first full render", `${count} containers, median of ${runs}`],
      [
        ["TreeScale dashboard (connect, gather agent.state, render rows)", format(ours)],
        ["peer: the same rows as static HTML (innerHTML, same browser)", format(peer)],
      ],
    );
  } finally {
    await browser.close();
    await agent.close();
    await stopProcess(node.process);
  }
}

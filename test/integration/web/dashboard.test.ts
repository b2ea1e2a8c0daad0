// The dashboard in a real Chromium against a 3-node tree of real node processes with agents on the
// shared dockerd: the page lists the nodes and their containers, shows drift and the replacement of a
// container removed by hand, marks a killed node down, refuses a wrong token, and logs no error.
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import Docker from "dockerode";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { containerName } from "../../../src/model/labels.js";
import { launchChromium, openPage, type WatchedPage } from "../../support/browser.js";
import { BusFixture, type NodeProcess } from "../../support/bus.js";
import { applyThrough } from "../../support/cli.js";
import {
  engineEvents,
  ensureTestImage,
  removeContainersOfNode,
  TEST_IMAGE,
  uniqueNodeName,
} from "../../support/docker.js";

const docker = new Docker();
const fixture = new BusFixture();
const prefix = uniqueNodeName("d");
const names = { root: `${prefix}root`, c1: `${prefix}c1`, c2: `${prefix}c2` };
const nodes: Partial<Record<keyof typeof names, NodeProcess>> = {};
const DASHBOARD_TOKEN = "dashboard-token";
const STACK = "dash";
/** Replicas go round-robin over the servers in name order: c1, c2, root. */
const REPLICA = { c1: 1, c2: 2, root: 3 } as const;
let browser: Browser;
let watched: WatchedPage;
let pageUrl: string;

// Bounds are seconds-scale on a loaded 2-CPU machine; the issue's 2 s is a target (bench).
const LIVE_MS = 5000;
/**
 * The first view after signing in waits for the whole tree's first answers (each node's state), which
 * a full suite's load has stretched past 5 s once (about 1–2 s alone).
 */
const FIRST_VIEW_MS = 15_000;

const SLEEPER = `command = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]\n`;

/** web: one replica per node; batch: two per node, rolled one at a time when its MODE changes. */
function containers(mode: number): string {
  return (
    `[containers.web]\nimage = "${TEST_IMAGE}"\nreplicas = 3\n${SLEEPER}\n` +
    `[containers.batch]\nimage = "${TEST_IMAGE}"\nreplicas = 6\nenv = { MODE = "${mode}" }\n${SLEEPER}`
  );
}

async function apply(): Promise<void> {
  const applied = await applyThrough(nodes.root!.url, join(fixture.dir, STACK));
  expect(applied.code, applied.stdout + applied.stderr).toBe(0);
}

async function start(key: keyof typeof names): Promise<NodeProcess> {
  // A loaded machine stalls processes for seconds: the fixture's 100 ms heartbeat would drop links (a
  // killed node is noticed by its closed socket, not by heartbeats).
  const args = ["--agent", "--home", join(fixture.dir, key), "--resync", "5", "--heartbeat", "3000"];
  if (key === "root") args.push("--http", "127.0.0.1:0");
  else args.push("--parent", nodes.root!.url);
  const node = await fixture.startNode(names[key], args);
  nodes[key] = node;
  return node;
}

beforeAll(async () => {
  await ensureTestImage();
  await fixture.setup();
  // The admin token applies; the page's token may only look (the README's dashboard token).
  await writeFile(
    fixture.tokens,
    `[[token]]\nname = "admin"\ntoken = "good-token"\nallow = ["*"]\n\n` +
      `[[token]]\nname = "dashboard"\ntoken = "${DASHBOARD_TOKEN}"\nallow = ["subscribe:*", "fleet:read"]\n`,
  );
  await start("root");
  await Promise.all([start("c1"), start("c2")]);
  await Promise.all([nodes.c1!.waitForLog(/linked to parent/), nodes.c2!.waitForLog(/linked to parent/)]);
  const manifests = join(fixture.dir, STACK);
  await mkdir(manifests);
  const servers = (Object.keys(names) as (keyof typeof names)[])
    .map(
      (key) =>
        `[servers.${names[key]}]\nip = "127.0.0.1"\nservice_port = ${nodes[key]!.port}\n` +
        `childs = [${key === "root" ? `"${names.c1}", "${names.c2}"` : ""}]\n`,
    )
    .join("\n");
  await writeFile(join(manifests, "servers.toml"), servers);
  await writeFile(join(manifests, "web.toml"), containers(1));
  await apply();
  browser = await launchChromium();
  pageUrl = `http://127.0.0.1:${nodes.root!.http}/`;
}, 90_000);

afterAll(async () => {
  await browser?.close();
  await fixture.teardown();
  await Promise.all(Object.values(names).map(removeContainersOfNode));
});

async function signIn(view: WatchedPage, token: string): Promise<void> {
  await view.page.goto(pageUrl);
  await view.page.fill("input[name=token]", token);
  await view.page.click("button[type=submit]");
}

describe("dashboard (real Chromium, real nodes, real dockerd)", () => {
  it("serves the page with a policy that keeps it to its own origin", async () => {
    const response = await fetch(pageUrl);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/html; charset=utf-8");
    const policy = response.headers.get("content-security-policy") ?? "";
    expect(policy).toContain("default-src 'none'");
    expect(policy).toContain("script-src 'self'");
    expect(policy).toContain(`connect-src 'self' ws://127.0.0.1:${nodes.root!.http}`);
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    const script = await fetch(new URL("app.js", pageUrl));
    expect(script.headers.get("content-type")).toBe("text/javascript; charset=utf-8");
  });

  it("refuses a wrong token and says so", async () => {
    const view = await openPage(browser);
    try {
      await signIn(view, "not-a-token");
      const notice = view.page.getByTestId("notice");
      await notice.waitFor({ timeout: 10_000 });
      expect(await notice.textContent()).toMatch(/refused this token/);
      expect(await view.page.evaluate('sessionStorage.getItem("treescale.token")')).toBeNull();
      await view.screenshot("dashboard-wrong-token");
      // The node's refusal closes the WebSocket; the browser logs nothing else.
      expect(view.errors.filter((e) => !/WebSocket/.test(e))).toEqual([]);
    } finally {
      await view.context.close();
    }
  });

  it("shows the three nodes and their containers with the engines' figures and charts", async () => {
    watched = await openPage(browser);
    await signIn(watched, DASHBOARD_TOKEN);
    const { page } = watched;
    await page.getByTestId("connected-node").waitFor();
    expect(await page.getByTestId("connected-node").textContent()).toBe(names.root);
    for (const name of Object.values(names))
      await page.locator(`tr[data-node="${name}"][data-health="up"]`).waitFor({ timeout: FIRST_VIEW_MS });
    expect(await page.evaluate('sessionStorage.getItem("treescale.token")')).toBe(DASHBOARD_TOKEN);
    await watched.screenshot("dashboard-tree");

    await page.click("a[data-tab=containers]");
    for (const [key, name] of Object.entries(names)) {
      const replica = REPLICA[key as keyof typeof names];
      const row = page.locator(`tr[data-container="${containerName(STACK, name, "web", replica)}"]`);
      await row.waitFor({ timeout: LIVE_MS });
      expect(await row.getAttribute("data-state")).toBe("running");
    }
    // The view subscribes to container.stats, which makes the nodes sample their engines once a second;
    // CPU % needs two samples (the first shows "–").
    for (const [key, name] of Object.entries(names)) {
      const replica = REPLICA[key as keyof typeof names];
      const row = page.locator(`tr[data-container="${containerName(STACK, name, "web", replica)}"]`);
      await row.locator("td.cpu", { hasText: /^\d+\.\d %$/ }).waitFor({ timeout: 10_000 });
      expect(await row.locator("td.no-stats").count()).toBe(0);
      // The engine's own restart count (none of these restarted), not a figure the page made up.
      await row.locator("td.restarts", { hasText: /^0$/ }).waitFor({ timeout: LIVE_MS });
      expect(await row.locator("td.restarts").getAttribute("title")).toContain("RestartCount");
      // A sparkline of CPU and of memory in the row, each with a line drawn on it.
      const sparks = row.locator("canvas.spark");
      expect(await sparks.count()).toBe(2);
      for (const spark of await sparks.all())
        expect(
          await spark.evaluate((canvas: HTMLCanvasElement) => {
            const { data } = canvas.getContext("2d")!.getImageData(0, 0, canvas.width, canvas.height);
            return data.some((value, index) => index % 4 === 3 && value > 0);
          }),
        ).toBe(true);
    }
    await page.click(`tr[data-container="${containerName(STACK, names.root, "web", REPLICA.root)}"]`);
    const charts = page.getByTestId("charts");
    await charts.waitFor();
    expect(await charts.locator("canvas").count()).toBe(4);
    await watched.screenshot("dashboard-containers");
  });

  it("shows a container removed by hand as drift, then its replacement, within seconds", async () => {
    const { page } = watched;
    const name = containerName(STACK, names.c1, "web", REPLICA.c1);
    const before = await page.locator(`tr[data-container="${name}"]`).getAttribute("data-id");
    expect(before).toBeTruthy();
    await page.click("a[data-tab=events]");
    const removedAt = Date.now();
    await docker.getContainer(before!).remove({ force: true });
    const drift = page.locator("tr.drift-entry", { hasText: name }).first();
    await drift.waitFor({ timeout: LIVE_MS });
    const driftMs = Date.now() - removedAt;
    expect(await drift.textContent()).toContain(names.c1);
    await watched.screenshot("dashboard-events");
    await page.click("a[data-tab=containers]");
    const replacement = page.locator(
      `tr[data-container="${name}"][data-state="running"]:not([data-id="${before}"])`,
    );
    await replacement.waitFor({ timeout: 30_000 });
    const shownAt = Date.now();
    const replacementId = await replacement.getAttribute("data-id");
    const started = (await engineEvents(names.c1, removedAt - 1000, shownAt + 1000)).find(
      (e) => e.id === replacementId && e.action === "start",
    );
    expect(started, "the engine started the replacement").toBeDefined();
    const lagMs = shownAt - started!.timeMs;
    console.log(
      `dashboard: drift shown ${driftMs} ms after docker rm -f; the engine started the replacement ` +
        `${Math.round(started!.timeMs - removedAt)} ms after it, the page showed it ${Math.round(lagMs)} ms later`,
    );
    expect(driftMs).toBeLessThanOrEqual(LIVE_MS);
    // The page's own part: from the engine's start of the replacement to the row on screen.
    expect(lagMs).toBeLessThanOrEqual(LIVE_MS);
  });

  it("shows a resource's desired spec beside what each node observes, with its conditions", async () => {
    const { page } = watched;
    await page.click("a[data-tab=resource]");
    await page.click(`a[href="#resource/${STACK}/container/web"]`);
    const detail = page.locator(`[data-resource="${STACK}/container/web"]`);
    await detail.waitFor();
    expect(await detail.locator(".node-block").count()).toBe(3);
    // The healed replica's node reports Ready again once the replacement settled.
    await detail.locator("tr.condition-Ready").nth(2).waitFor({ timeout: 15_000 });
    expect(await detail.locator("tr.condition-Ready").count()).toBe(3);
    expect(await detail.textContent()).toContain(TEST_IMAGE);
    await watched.screenshot("dashboard-resource");
    await page.click("a[data-tab=balancers]");
    await page.locator(`#view-balancers [data-node="${names.root}"]`).waitFor();
    const balancers = (await page.locator("#view-balancers").textContent()) ?? "";
    // This stack declares none. The kernel's nftables table is one per host and every node here reads
    // it, so a balancer test running beside this one shows its services on these nodes too; a view
    // without any must say so.
    expect(balancers).not.toContain(`${STACK}/`);
    const shown = balancers.match(/\S+\/\S+ — \d+\.\d+\.\d+\.\d+:\d+/g) ?? [];
    if (shown.length === 0) expect(balancers).toContain("no balancers");
    await watched.screenshot("dashboard-balancers");
  });

  it("shows an apply's plan on every node and each action's outcome, live", async () => {
    const { page } = watched;
    await page.click("a[data-tab=events]");
    // Every state each action's row shows, in order, as the page draws them.
    await page.evaluate(`(() => {
      const seen = (window.stepStates = {});
      const look = () => {
        for (const row of document.querySelectorAll("tr[data-step][data-action=recreate]")) {
          const node = row.closest("[data-apply-node]").getAttribute("data-apply-node");
          const states = (seen[node + " " + row.dataset.step] ??= []);
          if (states.at(-1) !== row.dataset.state) states.push(row.dataset.state);
        }
      };
      new MutationObserver(look).observe(document.body, { subtree: true, childList: true, attributes: true });
    })()`);
    const began = Date.now();
    await writeFile(join(fixture.dir, STACK, "web.toml"), containers(2));
    await apply();
    const appliedMs = Date.now() - began;
    const group = page.locator(`[data-apply="${STACK}/2"]`);
    await group.waitFor({ timeout: LIVE_MS });
    for (const [key, name] of Object.entries(names)) {
      // The CLI returned once every node settled; the page hears the same announcements.
      await group
        .locator(`[data-apply-node="${name}"][data-verdict="settled"]`)
        .waitFor({ timeout: LIVE_MS });
      const share = group.locator(`[data-apply-node="${name}"]`);
      const first = REPLICA[key as keyof typeof names];
      for (const replica of [first, first + 3]) {
        const row = share.locator(`tr[data-step="${containerName(STACK, name, "batch", replica)}"]`);
        expect(await row.getAttribute("data-action")).toBe("recreate");
        expect(await row.getAttribute("data-state")).toBe("done");
        expect(await row.locator("td").nth(2).textContent()).toBe(String(replica));
        expect(await row.locator("td.outcome").textContent()).toMatch(/^done in \d+ ms$/);
        expect(await row.locator(".change").textContent()).toBe(`~ env.MODE: "1" → "2"`);
      }
      expect(await share.locator("tr[data-step]").count()).toBe(2);
      expect(await share.locator('[data-outcome="container/batch"]').textContent()).toContain("Ready");
    }
    const states = (await page.evaluate("window.stepStates")) as Record<string, string[]>;
    // Each node plans both replicas at once and rolls one at a time: the second is shown not started
    // while the first is under way, and both are seen under way before they are done.
    for (const [key, name] of Object.entries(names)) {
      const first = REPLICA[key as keyof typeof names];
      const [one, two] = [first, first + 3].map(
        (replica) => states[`${name} ${containerName(STACK, name, "batch", replica)}`],
      );
      expect(one, JSON.stringify(states)).toEqual(expect.arrayContaining(["running", "done"]));
      expect(one!.at(-1)).toBe("done");
      expect(two, JSON.stringify(states)).toEqual(["planned", "running", "done"]);
    }
    await watched.screenshot("dashboard-applies");
    console.log(`dashboard: apply of 6 rolling recreates over 3 nodes took ${appliedMs} ms, shown live`);
  });

  it("marks a killed node down within seconds", async () => {
    const { page } = watched;
    await page.click("a[data-tab=tree]");
    const killedAt = Date.now();
    nodes.c2!.process.kill("SIGKILL");
    await page.locator(`tr[data-node="${names.c2}"][data-health="down"]`).waitFor({ timeout: LIVE_MS });
    const shownMs = Date.now() - killedAt;
    expect(shownMs).toBeLessThanOrEqual(LIVE_MS);
    expect(await page.getByTestId("last-failure").textContent()).toContain(names.c2);
    await watched.screenshot("dashboard-node-down");
    // Its containers are shown as last seen under a banner, never as an empty list.
    await page.click("a[data-tab=containers]");
    const block = page.locator(`.node-block[data-node="${names.c2}"]`);
    await block.waitFor();
    expect(await block.getAttribute("data-health")).toBe("down");
    expect(await block.locator(".banner").textContent()).toMatch(/down since .*as last seen/);
    expect(await block.locator("tr[data-container]").count()).toBe(3);
    await watched.screenshot("dashboard-containers-node-down");
    console.log(`dashboard: node down shown ${shownMs} ms after kill -9`);
  });

  it("loaded nothing from elsewhere and logged no console error", () => {
    const origin = `127.0.0.1:${nodes.root!.http}`;
    expect(watched.requests.length).toBeGreaterThan(0);
    for (const url of watched.requests) expect(new URL(url).host).toBe(origin);
    expect(watched.errors).toEqual([]);
  });
});

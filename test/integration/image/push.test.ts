// Images travel down the tree: a 3-level tree whose lower two nodes run on a dockerd of the test's own,
// so the image really crosses from the machine's engine into another one. Push to a tag, run it there,
// push again (nothing sent), kill a node mid-push and restart it (it resumes), a flipped byte (refused,
// never loaded), the dashboard (real Chromium) showing a push per node as it goes, and an apply with
// image_source = "tree" on an engine that lacks the image.
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { BusClient } from "../../../src/bus/client/index.js";
import { DockerImages } from "../../../src/drivers/docker-images.js";
import { Spool } from "../../../src/images/spool.js";
import {
  CHUNK_BYTES,
  encodeChunk,
  IMAGE_EVENTS,
  type ImageProgress,
  type OfferReply,
} from "../../../src/images/wire.js";
import { launchChromium, openPage } from "../../support/browser.js";
import { runCli } from "../../support/cli.js";
import { ensureTestImage, TEST_IMAGE, uniqueNodeName } from "../../support/docker.js";
import { containersOf, FaultFleet } from "../../support/fault-fleet.js";
import { pollUntil } from "../../support/poll.js";
import { hasDocker0, PrivateDockerd } from "../../support/private-dockerd.js";

const run = promisify(execFile);
const unavailable = await PrivateDockerd.unavailable();
if (unavailable) console.warn(`image push test skipped: ${unavailable}`);

const fleet = new FaultFleet("ip");
const big = `local/${uniqueNodeName("tspush")}:1`;
const small = `local/${uniqueNodeName("tsmid")}:1`;
let engine: PrivateDockerd | undefined;
let archiveDir = "";
let docker0Before = false;
const progress: ImageProgress[] = [];
let watcher: BusClient | undefined;

/** A busybox image with a layer of `mb` random megabytes: nothing compresses or dedupes it. */
async function makeImage(tag: string, mb: number): Promise<void> {
  const name = uniqueNodeName("tsmk");
  await run("docker", [
    "run",
    "--name",
    name,
    TEST_IMAGE,
    "dd",
    "if=/dev/urandom",
    "of=/blob",
    "bs=1M",
    `count=${mb}`,
  ]);
  await run("docker", ["commit", name, tag]);
  await run("docker", ["rm", "-f", name]);
}

async function privateHas(reference: string): Promise<boolean> {
  return engine!.docker
    .getImage(reference)
    .inspect()
    .then(
      () => true,
      () => false,
    );
}

/** Removes `reference` from the second engine, whether or not it has it. */
async function removeFromPrivate(reference: string): Promise<void> {
  await engine!.docker
    .getImage(reference)
    .remove({ force: true })
    .catch(() => undefined);
}

function push(...args: string[]) {
  return runCli([
    "image",
    "push",
    big,
    "--node",
    fleet.node("root").url,
    "--token",
    "good-token",
    "-o",
    "json",
    ...args,
  ]);
}

type ResultRow = { node: string; outcome: string; error: string | null };

beforeAll(async () => {
  if (unavailable) return;
  docker0Before = await hasDocker0();
  await ensureTestImage();
  await makeImage(big, 40);
  archiveDir = await mkdtemp(join(tmpdir(), "tspush-"));
  engine = await PrivateDockerd.create();
  await engine.start();
  await fleet.setup();
  const env = { DOCKER_HOST: engine.host };
  await fleet.startNode("root", { tag: "hub", args: ["--http", "127.0.0.1:0"] });
  await fleet.startNode("mid", { parent: "root", tag: "edge", env });
  // The leaf's default is the tree: its containers that name no image_source fetch from there too.
  await fleet.startNode("leaf", { parent: "mid", tag: "edge", env, args: ["--image-source", "tree"] });
  watcher = await fleet.bus.client(fleet.node("root"), { events: [IMAGE_EVENTS.progress, "node.down"] });
  watcher.onMessage((message) => {
    if (message.event === IMAGE_EVENTS.progress) progress.push(message.json<ImageProgress>());
  });
  // The tree is linked when the root sees the leaf's name through the middle node.
  await pollUntil(
    () => runCli(["get", "images", "--node", fleet.node("root").url, "--token", "good-token", "-o", "json"]),
    (result) => result.stdout.includes(fleet.name("leaf")),
    20_000,
  );
}, 120_000);

afterAll(async () => {
  await fleet.teardown();
  await engine?.destroy();
  await run("docker", ["rmi", "-f", big, small]).catch(() => undefined);
  if (archiveDir) await rm(archiveDir, { recursive: true, force: true });
});

describe.skipIf(unavailable !== undefined)("image push through a 3-level tree", () => {
  it("pushes to a tag: the image crosses into the other engine, relayed and loaded on the way, and runs there", async () => {
    // An event crossing the same links during the push: it must not wait behind the image.
    const far = await fleet.bus.client(fleet.node("leaf"), { events: ["test.beat"] });
    const near = await fleet.bus.client(fleet.node("root"));
    const latencies: number[] = [];
    far.onMessage((message) => latencies.push(Date.now() - Number(message.text())));
    const beat = setInterval(() => near.publish("test.beat", String(Date.now())), 100);
    const pushed = await push("--to", "tag:edge");
    clearInterval(beat);
    expect(pushed.code, pushed.stdout + pushed.stderr).toBe(0);
    const rows = JSON.parse(pushed.stdout) as ResultRow[];
    expect(rows.map((r) => [r.node, r.outcome]).sort()).toEqual([
      [fleet.name("leaf"), "loaded"],
      [fleet.name("mid"), "loaded"],
    ]);
    expect(await privateHas(big)).toBe(true);
    // Progress per node on the terminal: bytes, rate, and the phases.
    expect(pushed.stderr).toMatch(
      new RegExp(`${fleet.name("mid")}\\s+receiving\\s+[\\d.]+/[\\d.]+ MB\\s+[\\d.]+ MB/s`),
    );
    expect(pushed.stderr).toContain(`${fleet.name("leaf")}  loaded`);
    expect(latencies.length).toBeGreaterThan(3);
    console.log(`events across the pushing links: ${latencies.length}, slowest ${Math.max(...latencies)} ms`);
    expect(Math.max(...latencies)).toBeLessThan(2000);
    const ran = await engine!.docker.run(big, ["sh", "-c", "test -s /blob && echo ran"], process.stdout, {
      HostConfig: { AutoRemove: false },
    });
    expect(ran[0].StatusCode).toBe(0);
    await ran[1].remove();
  }, 90_000);

  it("a second push sends nothing: every target already has the image ID", async () => {
    const before = progress.length;
    const again = await push("--to", "tag:edge");
    expect(again.code, again.stderr).toBe(0);
    const rows = JSON.parse(again.stdout) as ResultRow[];
    expect(rows.map((r) => r.outcome)).toEqual(["had", "had"]);
    expect(progress.slice(before)).toEqual([]);
  }, 60_000);

  it("a push of another name of an image the targets have sends nothing, and names it there", async () => {
    const alias = `${big.replace(/:1$/, "")}-alias:2`;
    await run("docker", ["tag", big, alias]);
    try {
      expect(await privateHas(alias)).toBe(false);
      const before = progress.length;
      const pushed = await runCli([
        ...["image", "push", alias, "--to", "tag:edge", "--node", fleet.node("root").url],
        ...["--token", "good-token", "-o", "json"],
      ]);
      expect(pushed.code, pushed.stderr).toBe(0);
      expect((JSON.parse(pushed.stdout) as ResultRow[]).map((r) => r.outcome)).toEqual(["had", "had"]);
      expect(progress.slice(before)).toEqual([]);
      // A container naming the alias would find it: the engine answers to the name pushed.
      expect(await privateHas(alias)).toBe(true);
    } finally {
      await run("docker", ["rmi", alias]).catch(() => undefined);
      await removeFromPrivate(alias);
    }
  }, 60_000);

  it("get images says which node has the image, by ID, as soon as every node of the tree answered", async () => {
    const id = (await new DockerImages().imageId(big))!.replace("sha256:", "").slice(0, 12);
    const started = Date.now();
    const listed = await runCli([
      "get",
      "images",
      "--node",
      fleet.node("root").url,
      "--token",
      "good-token",
      "--wait",
      "30000",
      "-o",
      "json",
    ]);
    // Each node names its linked children: once all three answered, nothing is left to wait for.
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(listed.stderr).not.toContain("warning");
    const rows = JSON.parse(listed.stdout) as { node: string; id: string; tags: string[] }[];
    const holders = rows
      .filter((r) => r.id === id)
      .map((r) => r.node)
      .sort();
    expect(holders).toEqual([fleet.name("leaf"), fleet.name("mid"), fleet.name("root")].sort());
  }, 30_000);

  it("pushes a docker save archive through a node whose engine lacks the image: no engine needed where it starts", async () => {
    await removeFromPrivate(big);
    const archive = join(archiveDir, "big.tar");
    await run("docker", ["save", "-o", archive, big]);
    const leaf = fleet.name("leaf");
    // Through the middle node, on the engine that lacks it: the archive itself crosses the links.
    const pushed = await runCli([
      ...["image", "push", "--input", archive, "--to", `node:${leaf}`],
      ...["--node", fleet.node("mid").url, "--token", "good-token", "-o", "json"],
    ]);
    expect(pushed.code, pushed.stdout + pushed.stderr).toBe(0);
    expect((JSON.parse(pushed.stdout) as ResultRow[]).map((r) => [r.node, r.outcome])).toEqual([
      [leaf, "loaded"],
    ]);
    // Loaded under the name the archive carries.
    expect(await privateHas(big)).toBe(true);
  }, 60_000);

  it("a node killed mid-push and restarted resumes from the chunks it confirmed", async () => {
    await removeFromPrivate(big);
    const leaf = fleet.name("leaf");
    const before = progress.length;
    // To the leaf alone: the middle node (on the same engine) only relays, so the leaf's engine still
    // lacks the image when it comes back, and what it gets then is the rest of the stream.
    const pushing = push("--to", `node:${leaf}`);
    const first = await pollUntil(
      async () =>
        progress.slice(before).find((p) => p.node === leaf && p.phase === "receiving" && p.bytes > 0),
      (found) => found !== undefined,
      30_000,
    );
    expect(first).toBeDefined();
    await fleet.node("leaf").stop();
    await fleet.startNode("leaf", {
      parent: "mid",
      tag: "edge",
      args: ["--image-source", "tree"],
      env: { DOCKER_HOST: engine!.host },
      port: fleet.node("leaf").port,
    });
    const pushed = await pushing;
    expect(pushed.code, pushed.stdout + pushed.stderr).toBe(0);
    expect((JSON.parse(pushed.stdout) as ResultRow[]).map((r) => [r.node, r.outcome])).toEqual([
      [leaf, "loaded"],
    ]);
    // The restarted node reports where it resumed: past the chunks it had confirmed before the kill.
    const resumed = progress.slice(before).filter((p) => p.node === leaf && p.resumedFrom > 0);
    expect(
      resumed.length,
      JSON.stringify(progress.slice(before).filter((p) => p.node === leaf)),
    ).toBeGreaterThan(0);
    expect(resumed[0]!.resumedFrom * CHUNK_BYTES).toBeGreaterThanOrEqual(first!.bytes);
    expect(await privateHas(big)).toBe(true);
  }, 90_000);

  it("a flipped byte is refused, and so is a stream of good chunks out of place; neither is loaded, the resent ones are", async () => {
    await removeFromPrivate(TEST_IMAGE);
    const images = new DockerImages();
    const id = (await images.imageId(TEST_IMAGE))!;
    const dir = await mkdtemp(join(tmpdir(), "tsflip-"));
    const { spool, filled } = await Spool.fill(dir, id, images.save(TEST_IMAGE));
    await filled;
    const sender = await fleet.bus.client(fleet.node("root"));
    const mid = { node: fleet.name("mid") };
    try {
      const offer = {
        image: id,
        reference: TEST_IMAGE,
        target: { type: "node", name: fleet.name("mid") },
        size: 0,
      };
      const reply = (
        await sender.request(IMAGE_EVENTS.offer, mid, JSON.stringify(offer), 20_000)
      ).json<OfferReply>();
      expect(reply).toMatchObject({ need: true, confirmed: 0, loading: [fleet.name("mid")] });
      const chunk = await spool.read(0);
      const flipped = new Uint8Array(chunk.data);
      flipped[100]! ^= 0xff;
      await expect(
        sender.request(
          IMAGE_EVENTS.chunk,
          mid,
          encodeChunk({ image: id, index: 0, sha256: chunk.sha256 }, flipped),
        ),
      ).rejects.toThrow(/chunk 0 refused: its SHA-256 is [0-9a-f]+, the sender's manifest says/);
      // Chunks each true to its own hash, but two of them swapped: the whole stream is refused at its
      // end, its chunks discarded, and nothing reaches the engine.
      expect(spool.count).toBeGreaterThan(2);
      const order = [1, 0, ...Array.from({ length: spool.count - 2 }, (_, i) => i + 2)];
      for (const [index, from] of order.entries()) {
        const { data, sha256 } = await spool.read(from);
        await sender.request(IMAGE_EVENTS.chunk, mid, encodeChunk({ image: id, index, sha256 }, data));
      }
      await expect(
        sender.request(IMAGE_EVENTS.end, mid, JSON.stringify(spool.end), 60_000),
      ).rejects.toMatchObject({ handlerCode: "STREAM_REFUSED" });
      expect(await privateHas(TEST_IMAGE)).toBe(false);
      const again = (
        await sender.request(IMAGE_EVENTS.offer, mid, JSON.stringify(offer), 20_000)
      ).json<OfferReply>();
      expect(again).toMatchObject({ need: true, confirmed: 0 });
      for (let index = 0; index < spool.count; index++) {
        const { data, sha256 } = await spool.read(index);
        await sender.request(IMAGE_EVENTS.chunk, mid, encodeChunk({ image: id, index, sha256 }, data));
      }
      expect(await privateHas(TEST_IMAGE)).toBe(false);
      const end = await sender.request(IMAGE_EVENTS.end, mid, JSON.stringify(spool.end), 60_000);
      expect(end.json()).toEqual({ results: [{ node: fleet.name("mid"), outcome: "loaded" }] });
      expect(await privateHas(TEST_IMAGE)).toBe(true);
    } finally {
      await spool.remove();
      await rm(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it("the dashboard shows the push per node as it goes: phase, bytes of the total, rate, ETA", async () => {
    await removeFromPrivate(big);
    const browser = await launchChromium();
    try {
      const view = await openPage(browser);
      const { page } = view;
      await page.goto(`http://127.0.0.1:${fleet.node("root").http}/#images`);
      await page.fill("input[name=token]", "good-token");
      await page.click("button[type=submit]");
      await page.locator("#view-images").waitFor({ timeout: 10_000 });
      // Every row the page draws while the push goes, as the user sees it.
      await page.evaluate(`(() => {
        const seen = (window.transferRows = []);
        new MutationObserver(() => {
          for (const row of document.querySelectorAll("tr[data-transfer-node]")) {
            const text = [row.dataset.transferNode, row.dataset.phase,
              ...[".received", ".rate", ".eta"].map((cell) => row.querySelector(cell).textContent)].join("|");
            if (seen.at(-1) !== text) seen.push(text);
          }
        }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
      })()`);
      const pushed = await push("--to", "tag:edge");
      expect(pushed.code, pushed.stdout + pushed.stderr).toBe(0);
      for (const key of ["mid", "leaf"])
        await page
          .locator(`[data-push="${big}"] tr[data-transfer-node="${fleet.name(key)}"][data-phase="loaded"]`)
          .waitFor({ timeout: 10_000 });
      const rows = ((await page.evaluate("window.transferRows")) as string[]).map((row) => row.split("|"));
      for (const key of ["mid", "leaf"]) {
        const receiving = rows.filter(([node, phase]) => node === fleet.name(key) && phase === "receiving");
        // Bytes against the image's total, and a rate: shown while the chunks came, not only at the end.
        expect(receiving.length, JSON.stringify(rows)).toBeGreaterThan(0);
        for (const [, , received, rate] of receiving) {
          expect(received).toMatch(/^[\d.]+ (B|KiB|MiB) \/ [\d.]+ MiB$/);
          expect(rate).toMatch(/^[\d.]+ (B|KiB|MiB)\/s$/);
        }
      }
      // A time left once a node knows its rate and the total.
      expect(rows.some(([, phase, , , left]) => phase === "receiving" && /^\d+ s$|min/.test(left!))).toBe(
        true,
      );
      const loaded = page.locator(`tr[data-transfer-node="${fleet.name("leaf")}"]`);
      expect(await loaded.locator(".received").textContent()).toMatch(/^([\d.]+ MiB) \/ \1$/);
      await view.screenshot("dashboard-images");
      expect(view.errors).toEqual([]);
    } finally {
      await browser.close();
    }
  }, 90_000);

  it('an apply with image_source = "tree", or on a node whose default it is, starts containers whose image its engine lacked', async () => {
    // An image of its own for the middle node, which only its applied server declares "tree" for.
    await makeImage(small, 1);
    await engine!.docker.getImage(big).remove({ force: true });
    await removeFromPrivate(TEST_IMAGE);
    expect(await privateHas(TEST_IMAGE)).toBe(false);
    await writeFile(
      join(fleet.manifests, "servers.toml"),
      ["root", "mid", "leaf"]
        .map(
          (key) => `[servers.${fleet.name(key)}]
ip = "127.0.0.1"
service_port = ${fleet.node(key).port}
tags = ["${key === "root" ? "hub" : "edge"}"]
childs = [${key === "root" ? `"${fleet.name("mid")}"` : key === "mid" ? `"${fleet.name("leaf")}"` : ""}]
${key === "mid" ? 'image_source = "tree"' : ""}
`,
        )
        .join("\n"),
    );
    await writeFile(
      join(fleet.manifests, "app.toml"),
      `[containers.app]
image = "${big}"
image_source = "tree"
command = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
placement = { nodes = ["${fleet.name("leaf")}"] }

[containers.plain]
image = "${TEST_IMAGE}"
command = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
placement = { nodes = ["${fleet.name("leaf")}"] }

[containers.onmid]
image = "${small}"
command = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
placement = { nodes = ["${fleet.name("mid")}"] }
`,
    );
    const applied = await fleet.apply();
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    const runningOn = (key: string, count: number) =>
      pollUntil(
        () => containersOf(fleet.name(key), { docker: engine!.docker, state: "running" }),
        (names) => names.length === count,
        30_000,
      );
    expect(await runningOn("leaf", 2)).toHaveLength(2);
    expect(await privateHas(big)).toBe(true);
    expect(await privateHas(TEST_IMAGE)).toBe(true);
    // The middle node was started without a default: the server in the applied manifests gave it one.
    expect(await runningOn("mid", 1)).toHaveLength(1);
    expect(await privateHas(small)).toBe(true);
  }, 90_000);

  it("left the machine engine's bridge alone", async () => {
    expect(await hasDocker0()).toBe(docker0Before);
  });
});

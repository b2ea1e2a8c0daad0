// The node image as an operator runs it: built with no registry (scripts/build-node-image.sh on the
// base of this machine's node), its CLI answers, and a node in a container serves its bus and
// /healthz while its agent, through the mounted Docker socket, runs an applied slice on this engine,
// and serves the dashboard page, which Chromium loads and connects with.
import { execFile } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { connect } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium, openPage } from "../../support/browser.js";
import { requireBuild, runCli, scratch } from "../../support/cli.js";
import { ensureTestImage, removeContainersOfNode, TEST_IMAGE, uniqueNodeName } from "../../support/docker.js";
import { containersOf, type StatusRow } from "../../support/fault-fleet.js";
import { freePort } from "../../support/net.js";
import { eventually } from "../../support/poll.js";

const run = promisify(execFile);
const buildScript = fileURLToPath(new URL("../../../scripts/build-node-image.sh", import.meta.url));
// A tag of the test's own, so a run never replaces an image someone built by hand; the script
// reuses it while the bundle, the run-time packages and the base are unchanged.
const IMAGE = "treescale/node:test";
const TOKEN = "image-test-token";

async function dockerUnavailable(): Promise<string | undefined> {
  try {
    await run("docker", ["info", "--format", "{{.ServerVersion}}"], { timeout: 10_000 });
    return undefined;
  } catch (error) {
    return `no Docker engine answers (${(error as Error).message.split("\n")[0]})`;
  }
}

const unavailable = await dockerUnavailable();
if (unavailable) console.warn(`node image test skipped: ${unavailable}`);

function docker(args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run("docker", args, { timeout: 60_000 });
}

/** Resolves once something accepts a TCP connection on the port; rejects otherwise. */
function tcpConnect(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => {
      socket.destroy();
      resolve();
    });
    socket.on("error", reject);
  });
}

describe.skipIf(unavailable !== undefined)("the node image", () => {
  const node = uniqueNodeName("img");
  const containerName = `treescale-image-test-${node}`;
  let files: Awaited<ReturnType<typeof scratch>>;
  let imageId = "";
  /** The HTTP port of the node the agent test runs in a container (the dashboard test reuses it). */
  let httpPort = 0;

  beforeAll(async () => {
    requireBuild();
    files = await scratch();
    await ensureTestImage();
    const built = await run(buildScript, [IMAGE], { timeout: 110_000 });
    imageId = built.stdout.trim();
    console.info(built.stderr.trim().split("\n").at(-1), imageId);
  });

  afterAll(async () => {
    // Removed also when a test failed; -v takes the anonymous volumes along.
    await docker(["rm", "--force", "--volumes", containerName]).catch(() => undefined);
    await removeContainersOfNode(node);
    await files?.remove();
  });

  it("is built and labelled with the hash of what went into it", async () => {
    expect(imageId).toMatch(/^sha256:[0-9a-f]{64}$/);
    const { stdout } = await docker([
      "image",
      "inspect",
      "--format",
      '{{index .Config.Labels "treescale.image-content"}}',
      IMAGE,
    ]);
    expect(stdout.trim()).toMatch(/^[0-9a-f]{16}$/);
  });

  it("runs the CLI: --version exits 0 with the package's version", async () => {
    const manifest = await readFile(new URL("../../../package.json", import.meta.url), "utf8");
    const { version } = JSON.parse(manifest) as { version: string };
    const { stdout } = await docker(["run", "--rm", IMAGE, "--version"]);
    expect(stdout.trim()).toBe(version);
  });

  it("runs a node whose agent applies a slice to this engine through the mounted socket", async () => {
    const listen = await freePort();
    const http = await freePort();
    httpPort = http;
    const config = join(files.dir, "config");
    const manifests = join(files.dir, "image-test");
    await mkdir(config);
    await mkdir(manifests);
    await writeFile(join(config, "tokens"), `${TOKEN}\n`);
    await docker([
      "run",
      "--detach",
      "--name",
      containerName,
      "--network",
      "host",
      "--volume",
      "/var/run/docker.sock:/var/run/docker.sock",
      "--volume",
      `${config}:/etc/treescale:ro`,
      "--tmpfs",
      "/var/lib/treescale",
      IMAGE,
      "node",
      "--name",
      node,
      "--listen",
      `127.0.0.1:${listen}`,
      "--http",
      `127.0.0.1:${http}`,
      "--tokens",
      "/etc/treescale/tokens",
    ]);

    await eventually(() => tcpConnect(listen).then(() => true));
    const health = await eventually(async () => {
      const response = await fetch(`http://127.0.0.1:${http}/healthz`);
      return response.status === 200
        ? ((await response.json()) as { status: string; node: string })
        : undefined;
    });
    expect(health).toMatchObject({ status: "ok", node });

    await writeFile(
      join(manifests, "servers.toml"),
      `[servers.${node}]\nip = "127.0.0.1"\nservice_port = ${listen}\ntags = ["web"]\n`,
    );
    await writeFile(
      join(manifests, "web.toml"),
      `[containers.web]
image = "${TEST_IMAGE}"
replicas = 1
command = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]
placement = { tags = ["web"] }
`,
    );
    const target = ["--node", `127.0.0.1:${listen}`, "--token", TOKEN];
    const applied = await runCli(["apply", ...target, "--timeout", "40", "-f", manifests]);
    expect(applied.code, applied.stderr).toBe(0);

    // The engine's own record, not only the node's word for it.
    expect(await containersOf(node, { state: "running" })).toHaveLength(1);
    const status = await runCli(["get", "status", "-o", "json", ...target]);
    expect(status.code, status.stderr).toBe(0);
    const rows = JSON.parse(status.stdout) as StatusRow[];
    expect(rows.find((row) => row.resource === "container/web")).toMatchObject({
      node,
      condition: "Ready",
      ready: "1/1",
    });
  });

  it("serves the dashboard from the node started above, and the page connects to it in Chromium", async () => {
    const http = httpPort;
    expect(http, "the node of the previous test runs").toBeGreaterThan(0);
    const page = await fetch(`http://127.0.0.1:${http}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(page.headers.get("content-security-policy")).toContain("default-src 'none'");
    expect(await page.text()).toContain('<script type="module" src="app.js">');
    const script = await fetch(`http://127.0.0.1:${http}/app.js`);
    expect(script.status).toBe(200);
    expect((await script.arrayBuffer()).byteLength).toBeGreaterThan(10_000);

    const browser = await launchChromium();
    try {
      const view = await openPage(browser);
      await view.page.goto(`http://127.0.0.1:${http}/`);
      await view.page.fill("input[name=token]", TOKEN);
      await view.page.click("button[type=submit]");
      await view.page.locator(`tr[data-node="${node}"][data-health="up"]`).waitFor({ timeout: 10_000 });
      await view.screenshot("dashboard-node-image");
      expect(view.errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});

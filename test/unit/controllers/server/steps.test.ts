import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { nodeBundle } from "../../../../controllers/server/bundle.js";
import { convergeServer } from "../../../../controllers/server/converge.js";
import type { ImageSource, RemoteSession, RunResult } from "../../../../controllers/server/session.js";
import {
  buildHash,
  containerDecision,
  dockerInstall,
  parseOsRelease,
  type StepResult,
  sha256,
} from "../../../../controllers/server/steps.js";
import type { ServerSpec } from "../../../../src/model/resources.js";

const IMAGE_ID = "sha256:aaaabbbbccccddddeeee";
const servers: Record<string, ServerSpec> = {
  root: { name: "root", ip: "10.0.0.1", servicePort: 7000, tags: [], groups: [], childs: ["leaf"] },
  leaf: { name: "leaf", ip: "10.0.0.2", servicePort: 7000, tags: ["web"], groups: [], childs: [] },
};
const bundle = nodeBundle("leaf", servers, { clusterSecret: "s3cret", adminToken: "t0ken" });

/** A server as a map of files and a few facts; every command is recorded as its argv. */
class FakeServer implements RemoteSession {
  readonly commands: string[][] = [];
  readonly files = new Map<string, string>();
  uploads = 0;
  docker = true;
  imageId: string | undefined = IMAGE_ID;
  container: string | undefined;
  /** A container an interrupted build's `docker run` makes after this build's check. */
  madeMeanwhile = false;
  /** Exec channels opened: a run is one, a runAll of many commands is one. */
  execs = 0;
  constructor(readonly uid = "0") {}
  async run(argv: readonly string[]): Promise<RunResult> {
    this.execs += 1;
    return this.answer(argv);
  }
  async runAll(
    commands: readonly (readonly string[])[],
    _options?: { sudo?: boolean },
  ): Promise<RunResult[]> {
    this.execs += 1;
    return commands.map((argv) => this.answer(argv));
  }
  answer(argv: readonly string[]): RunResult {
    this.commands.push([...argv]);
    const [cmd, sub] = argv;
    const ok = (stdout = ""): RunResult => ({ code: 0, stdout, stderr: "" });
    const fail = (stderr: string): RunResult => ({ code: 1, stdout: "", stderr });
    if (cmd === "id") return ok(`${this.uid}\n`);
    if (cmd === "uname") return ok("x86_64\n");
    if (cmd === "cat") return ok('ID=debian\nVERSION_ID="12"\n');
    if (cmd === "test") return fail("");
    if (cmd === "true") return ok();
    if (cmd === "sha256sum") {
      const paths = argv.slice(1);
      const held = paths.filter((path) => this.files.has(path));
      const stdout = held.map((path) => `${sha256(this.files.get(path)!)}  ${path}\n`).join("");
      return { code: held.length === paths.length ? 0 : 1, stdout, stderr: "" };
    }
    if (cmd === "mkdir" || cmd === "rm") return ok();
    if (cmd === "docker") {
      if (!this.docker) return fail("docker: command not found");
      if (sub === "version") return ok("24.0.5\n");
      if (sub === "image") return this.imageId ? ok(`${this.imageId}\n`) : fail("No such image");
      if (sub === "load") {
        this.imageId = IMAGE_ID;
        return ok("Loaded image");
      }
      if (sub === "inspect") return this.container ? ok(`${this.container}\n`) : fail("No such object");
      if (sub === "rm") {
        this.container = undefined;
        return ok();
      }
      if (sub === "run" && this.madeMeanwhile) {
        this.madeMeanwhile = false;
        this.container = "true other";
        return fail(
          'docker: Error response from daemon: Conflict. The container name "/treescale-leaf" is already in use',
        );
      }
      if (sub === "run") {
        const label = argv[argv.indexOf("--label") + 1]!;
        this.container = `true ${label.split("=")[1]}`;
        return ok("abc\n");
      }
    }
    return fail(`unexpected ${argv.join(" ")}`);
  }
  async writeFile(path: string, data: string | Uint8Array): Promise<void> {
    this.files.set(path, String(data));
  }
  readonly uploadPaths: string[] = [];
  async upload(source: NodeJS.ReadableStream, remotePath: string): Promise<void> {
    await new Promise((resolve) => (source as Readable).on("end", resolve).resume());
    this.uploads += 1;
    this.uploadPaths.push(remotePath);
  }
  close(): void {}
}

const image: ImageSource = {
  tag: "treescale/node:0.1.0",
  id: async () => IMAGE_ID,
  save: () => Readable.from(["bytes"]),
};

async function build(server: FakeServer, dryRun = false) {
  const steps: StepResult[] = [];
  const report = await convergeServer({
    server: "leaf",
    connect: async () => server,
    image,
    bundle,
    dryRun,
    onStep: (_, step) => steps.push(step),
    onActivity: () => {},
  });
  return { report, steps: steps.map((s) => `${s.step} ${s.result}`) };
}

describe("server steps — check, then act only when the check says so", () => {
  it("a server with Docker and nothing else gets the image, its files and its node; a second build changes nothing", async () => {
    const server = new FakeServer();
    server.imageId = undefined;
    const first = await build(server);
    expect(first.report.ok).toBe(true);
    expect(first.steps).toEqual([
      "system unchanged",
      "docker unchanged",
      "image changed",
      "config changed",
      "node changed",
    ]);
    expect(server.uploads).toBe(1);
    expect([...server.files.keys()].sort()).toEqual([
      "/etc/treescale/leaf/secret",
      "/etc/treescale/leaf/tokens.toml",
      "/etc/treescale/leaf/treescale.toml",
    ]);
    const run = server.commands.find((argv) => argv[0] === "docker" && argv[1] === "run")!;
    expect(run).toEqual(
      expect.arrayContaining([
        "--restart",
        "always",
        "--network",
        "host",
        "/var/run/docker.sock:/var/run/docker.sock",
      ]),
    );

    server.commands.length = 0;
    const second = await build(server);
    expect(second.steps).toEqual([
      "system unchanged",
      "docker unchanged",
      "image unchanged",
      "config unchanged",
      "node unchanged",
    ]);
    expect(server.uploads).toBe(1);
    // Only checks ran: nothing that changes the server.
    expect(
      server.commands.filter((argv) => ["run", "rm", "load"].includes(argv[1] ?? "") || argv[0] === "mkdir"),
    ).toEqual([]);
  });

  it("a dry run reads and says what it would do, and changes nothing", async () => {
    const server = new FakeServer();
    server.imageId = undefined;
    const { steps } = await build(server, true);
    expect(steps).toEqual([
      "system unchanged",
      "docker unchanged",
      "image would-change",
      "config would-change",
      "node would-change",
    ]);
    expect(server.files.size).toBe(0);
    expect(server.uploads).toBe(0);
    expect(server.container).toBeUndefined();
  });

  it("a changed file recreates the node container; a stopped one is started again", async () => {
    const server = new FakeServer();
    await build(server);
    server.files.set("/etc/treescale/leaf/tokens.toml", "edited by hand");
    expect((await build(server)).steps.slice(3)).toEqual(["config changed", "node unchanged"]);
    server.container = server.container?.replace("true", "false");
    expect((await build(server)).steps.slice(4)).toEqual(["node changed"]);
  });

  it("a build killed half-way is finished by the next: files written again, a container created but never started replaced", async () => {
    const server = new FakeServer();
    server.imageId = undefined;
    // What an interrupted build leaves: one of the files written, the container created, not started.
    server.files.set("/etc/treescale/leaf/secret", bundle.files.secret!.content);
    server.container = `false ${buildHash(IMAGE_ID, bundle)}`;
    const { report, steps } = await build(server);
    expect(report.ok).toBe(true);
    expect(steps.slice(2)).toEqual(["image changed", "config changed", "node changed"]);
    expect(server.container).toBe(`true ${buildHash(IMAGE_ID, bundle)}`);
    expect(server.commands).toContainEqual(["docker", "rm", "-f", "treescale-leaf"]);
  });

  it("a node container made meanwhile by an interrupted build's docker run is replaced", async () => {
    const server = new FakeServer();
    server.madeMeanwhile = true;
    const { report, steps } = await build(server);
    expect(report.ok, report.ok ? "" : report.error).toBe(true);
    expect(steps.at(-1)).toBe("node changed");
    expect(server.container).toBe(`true ${buildHash(IMAGE_ID, bundle)}`);
  });

  it("a server already as built costs one exec as root: system's reads and every check in one round", async () => {
    const server = new FakeServer();
    await build(server);
    server.commands.length = 0;
    server.execs = 0;
    expect((await build(server)).steps.every((s) => s.endsWith("unchanged"))).toBe(true);
    // system's four reads, then docker, image, config (every file in one) and node.
    expect(server.commands.map((argv) => argv.slice(0, 2).join(" "))).toEqual([
      "id -u",
      "uname -m",
      "cat /etc/os-release",
      "test -d",
      "docker version",
      "docker image",
      "sha256sum /etc/treescale/leaf/treescale.toml",
      "docker inspect",
    ]);
    expect(server.execs).toBe(1);
  });

  it("as another user, the checks go again as sudo's after sudo is known to work: three execs", async () => {
    const server = new FakeServer("1000");
    const sudo: boolean[] = [];
    const runAll = server.runAll.bind(server);
    server.runAll = async (commands: readonly (readonly string[])[], options?: { sudo?: boolean }) => {
      sudo.push(options?.sudo === true);
      return runAll(commands);
    };
    await build(server);
    server.execs = 0;
    sudo.length = 0;
    expect((await build(server)).steps.every((s) => s.endsWith("unchanged"))).toBe(true);
    expect(sudo).toEqual([false, true]);
    expect(server.execs).toBe(3);
  });

  it("each upload has a path of its own, and old archives of killed builds are cleared first", async () => {
    const server = new FakeServer();
    server.imageId = undefined;
    await build(server);
    server.imageId = undefined;
    await build(server);
    expect(server.uploadPaths).toHaveLength(2);
    expect(new Set(server.uploadPaths).size).toBe(2);
    for (const path of server.uploadPaths)
      expect(path).toMatch(/^\/tmp\/treescale-image-aaaabbbbcccc-[0-9a-f]{8}\.tar$/);
    const find = server.commands.findIndex((argv) => argv[0] === "find");
    const load = server.commands.findIndex((argv) => argv[1] === "load");
    expect(find).toBeGreaterThanOrEqual(0);
    expect(find).toBeLessThan(load);
    expect(server.commands[find]).toEqual(expect.arrayContaining(["-mmin", "+30", "-delete"]));
  });

  it("the docker and image steps say what the server has, for the build's record", async () => {
    const server = new FakeServer();
    server.imageId = undefined;
    const found: (string | undefined)[] = [];
    await convergeServer({
      server: "leaf",
      connect: async () => server,
      image,
      bundle,
      dryRun: false,
      onStep: (_, step) => found.push(step.found),
      onActivity: () => {},
    });
    expect(found.slice(1, 3)).toEqual(["24.0.5", "treescale/node:0.1.0 aaaabbbbcccc"]);
  });

  it("a step that fails names itself and stops that server only", async () => {
    const server = new FakeServer();
    server.docker = false;
    const { report } = await build(server);
    expect(report).toMatchObject({ ok: false, failedStep: "docker" });
    expect(report.ok ? "" : report.error).toMatch(/apt-get/);
  });

  it("a server that cannot be reached fails at connect", async () => {
    const report = await convergeServer({
      server: "leaf",
      connect: async () => {
        throw new Error("connect ECONNREFUSED 10.0.0.2:22");
      },
      image,
      bundle,
      dryRun: false,
      onStep: () => {},
      onActivity: () => {},
    });
    expect(report).toMatchObject({
      ok: false,
      failedStep: "connect",
      error: "connect ECONNREFUSED 10.0.0.2:22",
    });
  });
});

describe("server steps — pure decisions", () => {
  it("reads /etc/os-release and knows each family's Docker package", () => {
    expect(parseOsRelease('NAME="Debian GNU/Linux"\nID=debian\nVERSION_ID="12"\n')).toEqual({
      os: "debian",
      version: "12",
    });
    const debian = dockerInstall({
      os: "debian",
      version: "12",
      arch: "x86_64",
      root: true,
      init: "systemd",
    });
    expect(debian).toEqual([
      ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "update"],
      ["env", "DEBIAN_FRONTEND=noninteractive", "apt-get", "install", "-y", "docker.io"],
      ["systemctl", "enable", "--now", "docker"],
    ]);
    expect(dockerInstall({ os: "plan9", version: "", arch: "", root: true, init: "other" })).toBeUndefined();
  });

  it("keeps the node container only when it runs and was built from the same image and files", () => {
    const hash = buildHash(IMAGE_ID, bundle);
    expect(containerDecision({ code: 0, stdout: `true ${hash}\n`, stderr: "" }, hash).action).toBe("keep");
    expect(containerDecision({ code: 0, stdout: `false ${hash}\n`, stderr: "" }, hash).action).toBe(
      "recreate",
    );
    expect(containerDecision({ code: 0, stdout: "true other\n", stderr: "" }, hash).action).toBe("recreate");
    expect(containerDecision({ code: 1, stdout: "", stderr: "No such object" }, hash).action).toBe("create");
    expect(buildHash("sha256:other", bundle)).not.toBe(hash);
  });

  it("with TLS, a node gets the CA, its own certificate and key (0600), and runs with mutual TLS", () => {
    const tls = { ca: "CA PEM", nodes: { leaf: { cert: "LEAF CERT", key: "LEAF KEY" } } };
    const secured = nodeBundle("leaf", servers, { clusterSecret: "s", adminToken: "t", tls });
    expect(secured.files["ca.crt"]).toEqual({ content: "CA PEM", mode: 0o644 });
    expect(secured.files["tls.crt"]).toEqual({ content: "LEAF CERT", mode: 0o644 });
    expect(secured.files["tls.key"]).toEqual({ content: "LEAF KEY", mode: 0o600 });
    expect(secured.args.join(" ")).toContain(
      "--tls-cert /etc/treescale/tls.crt --tls-key /etc/treescale/tls.key --tls-ca /etc/treescale/ca.crt",
    );
    expect(bundle.args).not.toContain("--tls-cert");
    // Another node's certificate is never handed out in its place.
    expect(() => nodeBundle("root", servers, { clusterSecret: "s", adminToken: "t", tls })).toThrow(/root/);
  });

  it("writes each server's seed file as TOML data: its own name as current_node, every server for its parent", () => {
    const toml = bundle.files["treescale.toml"]!.content;
    expect(toml).toContain('current_node = "leaf"');
    expect(toml).toContain("[servers.root]");
    expect(bundle.files.secret!.mode).toBe(0o600);
  });
});

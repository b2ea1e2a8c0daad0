// `treescale build` from the seed's console.toml to a running tree, for real: three "servers" are
// sshd processes of the test's own on loopback ports (one logged into with a password and sudo, two
// with a key as root), sharing this machine's dockerd; the node image is the project's, built here.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeBuiltServers } from "../support/built-servers.js";
import { requireBuild, runCli, scratch } from "../support/cli.js";
import { uniqueNodeName } from "../support/docker.js";
import { freePort } from "../support/net.js";
import {
  ensureTestUser,
  makeClientKey,
  type Sshd,
  sshdUnavailable,
  startSshd,
  TEST_USERS,
} from "../support/sshd.js";

const docker = new Docker();
const unavailable = sshdUnavailable();
if (unavailable) console.warn(`build e2e skipped: ${unavailable}`);

const names = { root: uniqueNodeName("broot"), a: uniqueNodeName("ba"), b: uniqueNodeName("bb") };
const pwned = `/tmp/treescale-pwned-${randomBytes(6).toString("hex")}`;
let work: Awaited<ReturnType<typeof scratch>>;
let env: Record<string, string>;
const sshds: Partial<Record<keyof typeof names, Sshd>> = {};
let ports: Record<keyof typeof names, number>;
let key = "";
let password = "";

async function writeSeed(overrides: { password?: string } = {}) {
  await work.write(
    "console.toml",
    `tree = "treescale.toml"
[ssh.${names.root}]
host = "127.0.0.1"
port = "${sshds.root!.port}"
key = "${key}"

[ssh.${names.a}]
host = "127.0.0.1"
port = "${sshds.a!.port}"
username = "${TEST_USERS.passwordlessSudo}"
password = "${overrides.password ?? password}"

[ssh.${names.b}]
host = "127.0.0.1"
port = "${sshds.b!.port}"
key = "${key}"
`,
  );
  await work.write(
    "treescale.toml",
    `[servers.${names.root}]
ip = "127.0.0.1"
service_port = ${ports.root}
childs = ["${names.a}", "${names.b}"]

[servers.${names.a}]
ip = "127.0.0.1"
service_port = ${ports.a}
tags = ["x; touch ${pwned}", "$(touch ${pwned})"]

[servers.${names.b}]
ip = "127.0.0.1"
service_port = ${ports.b}
`,
  );
}

const build = (...args: string[]) =>
  runCli(
    ["build", "-f", join(work.dir, "console.toml"), "--accept-new-host-keys", "--timeout", "90", ...args],
    {
      env,
    },
  );

/** Per server, the sessions its sshd has started (one per exec channel or SFTP subsystem). */
function sessionCounts(): Record<string, number> {
  return Object.fromEntries(
    Object.entries(sshds).map(([server, sshd]) => [
      server,
      sshd!.log.filter((line) => line.includes("Starting session:")).length,
    ]),
  );
}

async function nodeContainers(): Promise<Map<string, string>> {
  const list = await docker.listContainers({ all: true });
  const ours = new Set(Object.values(names).map((n) => `/treescale-${n}`));
  return new Map(list.filter((c) => ours.has(c.Names[0] ?? "")).map((c) => [c.Names[0]!.slice(1), c.Id]));
}

describe.skipIf(unavailable !== undefined)("treescale build (real sshd, real dockerd)", () => {
  beforeAll(async () => {
    requireBuild();
    execFileSync("scripts/build-node-image.sh", { stdio: ["ignore", "ignore", "inherit"] });
    work = await scratch();
    const home = join(work.dir, "home");
    await mkdir(home);
    // HOME too: known_hosts is ~/.ssh/known_hosts, and the test must not write the user's.
    env = { TREESCALE_HOME: join(work.dir, "treescale"), HOME: home };
    const client = await makeClientKey(work.dir);
    key = client.path;
    password = (await ensureTestUser(TEST_USERS.passwordlessSudo)).password;
    sshds.root = await startSshd({ authorizedKeys: { root: [client.publicKey] } });
    sshds.a = await startSshd({ passwordAuthentication: true });
    sshds.b = await startSshd({ authorizedKeys: { root: [client.publicKey] } });
    ports = { root: await freePort(), a: await freePort(), b: await freePort() };
    await writeSeed();
  }, 240_000);

  afterAll(async () => {
    await removeBuiltServers(Object.values(names));
    await Promise.all(Object.values(sshds).map((s) => s?.stop()));
    await work?.remove();
  });

  it("brings the seed's servers up as root → two children, joined, and records the tree as the current context", async () => {
    const dry = await build("--dry-run");
    expect(dry.code, dry.stdout + dry.stderr).toBe(0);
    expect(dry.stdout).toMatch(new RegExp(`~ ${names.root}: would change`));
    expect((await nodeContainers()).size).toBe(0);

    const first = await build();
    expect(first.code, first.stdout + first.stderr).toBe(0);
    for (const name of Object.values(names))
      expect(first.stdout).toMatch(new RegExp(`✓ ${name}: changed .*node`));
    expect(first.stdout).toContain(`Context ${names.root}`);

    const nodes = JSON.parse((await runCli(["get", "nodes", "-o", "json"], { env })).stdout) as {
      name: string;
      status: string;
      parent: string;
    }[];
    expect(nodes.map((n) => [n.name, n.parent]).sort()).toEqual(
      [
        [names.a, names.root],
        [names.b, names.root],
        [names.root, null],
      ].sort(),
    );
    expect(nodes.every((n) => n.status === "Ready")).toBe(true);
    // The tags reached the server as data: nothing ran them.
    expect(existsSync(pwned)).toBe(false);
  });

  it("a second build changes nothing and says so: no container recreated, no image sent", async () => {
    const before = await nodeContainers();
    const sessions = sessionCounts();
    const again = await build();
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toContain("No changes: every server is as built.");
    expect(again.stderr).not.toMatch(/sending|docker load|recreate/);
    // Every node answered through the tree as this build would make it: no server was logged into.
    for (const name of Object.values(names))
      expect(again.stderr).toMatch(new RegExp(`\\[${name}\\] tree: unchanged \\(node \\S+ answers`));
    expect(sessionCounts()).toEqual(sessions);
    // --check-ssh checks each server's steps over SSH all the same, and finds nothing to do either.
    const checked = await build("--check-ssh");
    expect(checked.code, checked.stdout + checked.stderr).toBe(0);
    expect(checked.stdout).toContain("No changes: every server is as built.");
    expect(checked.stderr).toMatch(new RegExp(`\\[${names.b}\\] node: unchanged`));
    for (const [server, count] of Object.entries(sessionCounts()))
      expect(count, server).toBeGreaterThan(sessions[server]!);
    expect(await nodeContainers()).toEqual(before);
  });

  it("drift on a server is still found: a removed node container is made again, a file changed there is written back", async () => {
    const before = await nodeContainers();
    await docker.getContainer(before.get(`treescale-${names.b}`)!).remove({ force: true });
    const config = `/etc/treescale/${names.root}/treescale.toml`;
    const written = await readFile(config, "utf8");
    await writeFile(config, `${written}# edited on the server\n`);
    const sessions = sessionCounts();
    const result = await build();
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect(result.stderr).toMatch(
      new RegExp(`\\[${names.b}\\] tree: its node does not answer in the tree: checking over SSH`),
    );
    expect(result.stderr).toMatch(
      new RegExp(`\\[${names.root}\\] tree: its files on the server are not those this build writes`),
    );
    expect(result.stdout).toMatch(new RegExp(`✓ ${names.b}: changed node`));
    expect(result.stdout).toMatch(new RegExp(`✓ ${names.root}: changed config`));
    expect(result.stdout).toMatch(new RegExp(`✓ ${names.a}: unchanged`));
    expect(await readFile(config, "utf8")).toBe(written);
    const after = sessionCounts();
    expect(after.a).toBe(sessions.a);
    expect(after.b).toBeGreaterThan(sessions.b!);
    // The root's running node was kept: only its file was put back.
    expect((await nodeContainers()).get(`treescale-${names.root}`)).toBe(
      before.get(`treescale-${names.root}`),
    );
  });

  it("get servers lists every server in the tree with the Docker version and node image its build found", async () => {
    const result = await runCli(["get", "servers", "-o", "json"], { env });
    expect(result.code, result.stderr).toBe(0);
    const rows = JSON.parse(result.stdout) as {
      name: string;
      tree: { joined: boolean; since: string | null; reason: string | null };
      docker: string;
      image: string;
      parent: string;
      lastBuild: { at: string; ok: boolean; failedStep: string | null; error: string | null } | null;
    }[];
    const { Version } = await docker.version();
    expect(rows.map((r) => r.name).sort()).toEqual(Object.values(names).sort());
    for (const row of rows) {
      expect(row).toMatchObject({
        tree: { joined: true, reason: null },
        docker: Version,
        parent: row.name === names.root ? null : names.root,
        lastBuild: { ok: true, failedStep: null, error: null },
      });
      // A child's parent says since when its link is up; the root has no parent to say it.
      if (row.name === names.root) expect(row.tree.since).toBeNull();
      else expect(Date.parse(row.tree.since ?? "")).not.toBeNaN();
      expect(new Date(row.lastBuild!.at).toISOString()).toBe(row.lastBuild!.at);
      expect(row.image).toMatch(/^treescale\/node:\S+ [0-9a-f]{12}$/);
    }
  });

  it("a wrong password fails that server only, naming the step; the others are checked and unchanged", async () => {
    await writeSeed({ password: "not-the-password" });
    // Through the tree every server is as built: only --check-ssh logs in to find the password wrong.
    expect((await build()).code).toBe(0);
    const result = await build("--check-ssh");
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(new RegExp(`✗ ${names.a}: connect failed: .*`));
    expect(result.stdout).not.toContain("not-the-password");
    expect(result.stdout).toMatch(new RegExp(`✓ ${names.b}: unchanged`));
    // The record says so; the server still answers in the tree from its earlier build.
    const rows = JSON.parse((await runCli(["get", "servers", "-o", "json"], { env })).stdout) as {
      name: string;
    }[];
    expect(rows.find((r) => r.name === names.a)).toMatchObject({
      tree: { joined: true },
      lastBuild: { ok: false, failedStep: "connect", error: expect.stringContaining("cannot log in") },
    });
    // The table says it in words.
    const table = await runCli(["get", "servers"], { env });
    expect(table.stdout).toMatch(new RegExp(`^${names.a}\\s+in the tree\\s.* failed at connect: `, "m"));
    await writeSeed();
  });

  it("a node image missing on this machine fails the build once, before any server is touched", async () => {
    const result = await build("--image", "treescale/node:not-built");
    expect(result.code).not.toBe(0);
    expect(result.stderr.match(/treescale\/node:not-built is not on this machine/g)).toHaveLength(1);
    expect(result.stderr).not.toMatch(/^\[/m);
  });

  it("a changed host key is refused with both fingerprints named", async () => {
    // What ~/.ssh/known_hosts recorded for server b is replaced by another key: as if b's key changed.
    const knownHosts = join(env.HOME!, ".ssh", "known_hosts");
    const other = await makeClientKey(work.dir, "impostor");
    const recorded = await readFile(knownHosts, "utf8");
    const entry = `[127.0.0.1]:${sshds.b!.port}`;
    expect(recorded).toContain(entry);
    await writeFile(
      knownHosts,
      recorded
        .split("\n")
        .map((line) =>
          line.startsWith(`${entry} `)
            ? `${entry} ${other.publicKey.split(" ").slice(0, 2).join(" ")}`
            : line,
        )
        .join("\n"),
    );
    const otherFingerprint = execFileSync("ssh-keygen", ["-l", "-f", `${other.path}.pub`])
      .toString()
      .split(/\s+/)[1]!;
    const result = await build("--check-ssh");
    expect(result.code).toBe(1);
    expect(result.stdout).toMatch(new RegExp(`✗ ${names.b}: connect failed`));
    expect(result.stdout).toContain(sshds.b!.hostKeyFingerprint);
    expect(result.stdout).toContain(otherFingerprint);
    expect(result.stdout).toMatch(new RegExp(`✓ ${names.root}: unchanged`));
  });
});

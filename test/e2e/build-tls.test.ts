// `treescale build --tls` for real: two sshd "servers" of the test's own (root → child, key as root)
// sharing this machine's dockerd. The build makes a CA and a certificate per node under
// $TREESCALE_HOME, installs them, the nodes link over mutual TLS, and the context talks to the root
// over tls:// trusting that CA; a client without it is refused saying what to pass. A server the
// manifests gain afterwards is brought up by `apply` (not build) into the same TLS tree.
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { mkdir, readdir, readFile, stat } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeBuiltServers } from "../support/built-servers.js";
import { requireBuild, runCli, scratch } from "../support/cli.js";
import { uniqueNodeName } from "../support/docker.js";
import { freePort } from "../support/net.js";
import { makeClientKey, type Sshd, sshdUnavailable, startSshd } from "../support/sshd.js";

const unavailable = sshdUnavailable();
if (unavailable) console.warn(`build --tls e2e skipped: ${unavailable}`);

const names = { root: uniqueNodeName("troot"), child: uniqueNodeName("tchild") };
/** A server the manifests gain after the build: `apply` brings it up into the TLS tree. */
const late = uniqueNodeName("tlate");
let work: Awaited<ReturnType<typeof scratch>>;
let env: Record<string, string>;
const sshds: Sshd[] = [];
let rootPort = 0;
let childPort = 0;
let key = "";

const build = (...args: string[]) =>
  runCli(
    ["build", "-f", join(work.dir, "console.toml"), "--accept-new-host-keys", "--timeout", "90", ...args],
    { env },
  );

describe.skipIf(unavailable !== undefined)("treescale build --tls (real sshd, real dockerd)", () => {
  beforeAll(async () => {
    requireBuild();
    execFileSync("scripts/build-node-image.sh", { stdio: ["ignore", "ignore", "inherit"] });
    work = await scratch();
    const home = join(work.dir, "home");
    await mkdir(home);
    env = { TREESCALE_HOME: join(work.dir, "treescale"), HOME: home };
    const client = await makeClientKey(work.dir);
    key = client.path;
    for (const _ of [...Object.keys(names), late])
      sshds.push(await startSshd({ authorizedKeys: { root: [client.publicKey] } }));
    rootPort = await freePort();
    childPort = await freePort();
    await work.write(
      "console.toml",
      `tree = "treescale.toml"
[ssh.${names.root}]
host = "127.0.0.1"
port = "${sshds[0]!.port}"
key = "${key}"

[ssh.${names.child}]
host = "127.0.0.1"
port = "${sshds[1]!.port}"
key = "${key}"
`,
    );
    await work.write(
      "treescale.toml",
      `[servers.${names.root}]
ip = "127.0.0.1"
service_port = ${rootPort}
childs = ["${names.child}"]

[servers.${names.child}]
ip = "127.0.0.1"
service_port = ${childPort}
`,
    );
  }, 240_000);

  afterAll(async () => {
    await removeBuiltServers([...Object.values(names), late]);
    await Promise.all(sshds.map((s) => s.stop()));
    await work?.remove();
  });

  it("makes a CA and node certificates (0600, kept), the nodes join over TLS, and get nodes trusts the CA through the context", async () => {
    const first = await build("--tls");
    expect(first.code, first.stdout + first.stderr).toBe(0);
    expect(first.stdout).toContain(`(tls://127.0.0.1:${rootPort})`);

    const contextDir = join(env.TREESCALE_HOME!, "contexts", names.root);
    const context = JSON.parse(await readFile(join(contextDir, "context.json"), "utf8")) as {
      node: string;
      ca: string;
    };
    expect(context.node).toBe(`tls://127.0.0.1:${rootPort}`);
    expect(context.ca).toBe(join(contextDir, "tls", "ca.crt"));
    const kept = [
      "ca.crt",
      "ca.key",
      ...(await readdir(join(contextDir, "tls", "nodes"))).map((f) => `nodes/${f}`),
    ];
    expect(kept.sort()).toEqual(
      [
        "ca.crt",
        "ca.key",
        `nodes/${names.child}.crt`,
        `nodes/${names.child}.key`,
        `nodes/${names.root}.crt`,
        `nodes/${names.root}.key`,
      ].sort(),
    );
    for (const file of kept) expect((await stat(join(contextDir, "tls", file))).mode & 0o777).toBe(0o600);

    // What the server got: its own certificate, signed by the tree's CA, its name and address in the SAN;
    // the CA's key stays on this machine.
    const ca = new X509Certificate(await readFile(context.ca));
    const installed = new X509Certificate(await readFile(`/etc/treescale/${names.child}/tls.crt`));
    expect(installed.checkIssued(ca) && installed.verify(ca.publicKey)).toBe(true);
    expect(installed.subjectAltName).toBe(`DNS:${names.child}, IP Address:127.0.0.1`);
    expect((await stat(`/etc/treescale/${names.child}/tls.key`)).mode & 0o777).toBe(0o600);
    expect(await readdir(`/etc/treescale/${names.child}`)).not.toContain("ca.key");

    const nodes = await runCli(["get", "nodes", "-o", "json"], { env });
    expect(nodes.code, nodes.stderr).toBe(0);
    const rows = JSON.parse(nodes.stdout) as { name: string; status: string; parent: string | null }[];
    expect(rows.map((r) => [r.name, r.status, r.parent]).sort()).toEqual(
      [
        [names.child, "Ready", names.root],
        [names.root, "Ready", null],
      ].sort(),
    );
  });

  it("a client without the tree's CA is refused, told to pass it with --ca", async () => {
    const { token } = JSON.parse(
      await readFile(join(env.TREESCALE_HOME!, "contexts", names.root, "context.json"), "utf8"),
    ) as { token: string };
    const refused = await runCli(
      ["get", "nodes", "--node", `tls://127.0.0.1:${rootPort}`, "--token", token, "--connect-timeout", "10"],
      { env },
    );
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(
      new RegExp(`cannot trust the node at tls://127\\.0\\.0\\.1:${rootPort}: .*--ca FILE`),
    );
  });

  it("a second build keeps the certificates: nothing changes", async () => {
    const again = await build();
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect(again.stdout).toContain("No changes: every server is as built.");
    // Seen through the tree over TLS (the context's CA), as this build would make them: no SSH.
    expect(again.stderr.match(/^\[[^\]]+\] tree: unchanged \(/gm)).toHaveLength(2);
    expect(again.stdout).toContain(`(tls://127.0.0.1:${rootPort})`);
  });

  it("a server added to the manifests is brought up by apply into the TLS tree: a certificate of the same CA, joined over mutual TLS", async () => {
    const latePort = await freePort();
    // The same tree with one more child; apply checks host keys strictly, so the new one is pinned.
    await mkdir(join(work.dir, "apply"));
    await work.write(
      "apply/console.toml",
      `${await readFile(join(work.dir, "console.toml"), "utf8")}
[ssh.${late}]
host = "127.0.0.1"
port = "${sshds[2]!.port}"
key = "${key}"
host_key = "${sshds[2]!.hostKeyFingerprint}"
`,
    );
    await work.write(
      "apply/treescale.toml",
      `[servers.${names.root}]
ip = "127.0.0.1"
service_port = ${rootPort}
childs = ["${names.child}", "${late}"]

[servers.${names.child}]
ip = "127.0.0.1"
service_port = ${childPort}

[servers.${late}]
ip = "127.0.0.1"
service_port = ${latePort}
`,
    );
    const applied = await runCli(
      ["apply", "-f", join(work.dir, "apply", "console.toml"), "--timeout", "60"],
      {
        env,
      },
    );
    expect(applied.code, applied.stdout + applied.stderr).toBe(0);
    // Only the new server is planned (the others answer in the tree), and its node is made over SSH.
    expect(applied.stdout.match(/^\s+\+ server\s+\S+/gm)).toEqual([expect.stringContaining(late)]);
    expect(applied.stdout).toMatch(new RegExp(`✓ server ${late}: `));
    expect(applied.stderr).toMatch(new RegExp(`\\[fleet\\] ${late} node: changed`));

    // Its certificate is the tree's CA's, made on this machine and kept with the context.
    const contextDir = join(env.TREESCALE_HOME!, "contexts", names.root);
    const ca = new X509Certificate(await readFile(join(contextDir, "tls", "ca.crt")));
    const installed = new X509Certificate(await readFile(`/etc/treescale/${late}/tls.crt`));
    expect(installed.checkIssued(ca) && installed.verify(ca.publicKey)).toBe(true);
    expect(installed.subjectAltName).toBe(`DNS:${late}, IP Address:127.0.0.1`);
    expect(await readdir(join(contextDir, "tls", "nodes"))).toContain(`${late}.crt`);

    // It joins under the root, which takes only children with a certificate of its CA.
    const deadline = Date.now() + 30_000;
    let rows: { name: string; status: string; parent: string | null }[] = [];
    while (Date.now() < deadline) {
      const nodes = await runCli(["get", "nodes", "-o", "json"], { env });
      rows = nodes.code === 0 ? JSON.parse(nodes.stdout) : [];
      if (rows.some((r) => r.name === late && r.status === "Ready")) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    expect(rows.find((r) => r.name === late)).toMatchObject({ status: "Ready", parent: names.root });
  });
});

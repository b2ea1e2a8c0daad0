// A `treescale build` killed in the middle (SIGKILL: no cleanup of its own) and run again converges,
// with nothing removed by hand: three loopback sshd "servers" (root → two children, key as root)
// sharing this machine's dockerd, as in build.test.ts.
import { execFileSync, spawn } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { removeBuiltServers } from "../support/built-servers.js";
import { CLI, requireBuild, runCli, scratch } from "../support/cli.js";
import { uniqueNodeName } from "../support/docker.js";
import { freePort } from "../support/net.js";
import { makeClientKey, type Sshd, sshdUnavailable, startSshd } from "../support/sshd.js";

const unavailable = sshdUnavailable();
if (unavailable) console.warn(`interrupted build e2e skipped: ${unavailable}`);

const names = [uniqueNodeName("kroot"), uniqueNodeName("ka"), uniqueNodeName("kb")] as const;
let work: Awaited<ReturnType<typeof scratch>>;
let env: Record<string, string>;
const sshds: Sshd[] = [];

/** This test's environment, minus what would point the CLI at some other tree (as runCli does). */
function callerEnvironment(): NodeJS.ProcessEnv {
  const {
    TREESCALE_NODE: _node,
    TREESCALE_TOKEN: _token,
    TREESCALE_CONTEXT: _context,
    ...rest
  } = process.env;
  return rest;
}

/** `treescale build`, killed with SIGKILL at its first progress line that matches; the lines it printed. */
function buildKilledAt(line: RegExp): Promise<{ killed: boolean; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [CLI, "build", "-f", join(work.dir, "console.toml"), "--accept-new-host-keys", "--timeout", "90"],
      { env: { ...callerEnvironment(), ...env }, stdio: ["ignore", "ignore", "pipe"] },
    );
    let stderr = "";
    let killed = false;
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      if (!killed && stderr.split("\n").some((l) => line.test(l))) {
        killed = true;
        child.kill("SIGKILL");
      }
    });
    child.on("error", reject);
    child.on("close", () => resolve({ killed, stderr }));
  });
}

describe.skipIf(unavailable !== undefined)(
  "treescale build killed in the middle (real sshd, real dockerd)",
  () => {
    beforeAll(async () => {
      requireBuild();
      execFileSync("scripts/build-node-image.sh", { stdio: ["ignore", "ignore", "inherit"] });
      work = await scratch();
      const home = join(work.dir, "home");
      await mkdir(home);
      env = { TREESCALE_HOME: join(work.dir, "treescale"), HOME: home };
      const client = await makeClientKey(work.dir);
      for (const _ of names) sshds.push(await startSshd({ authorizedKeys: { root: [client.publicKey] } }));
      const ports = await Promise.all(names.map(() => freePort()));
      const [root, ...children] = names;
      await work.write(
        "console.toml",
        `tree = "treescale.toml"\n${names
          .map(
            (name, i) =>
              `[ssh.${name}]\nhost = "127.0.0.1"\nport = "${sshds[i]!.port}"\nkey = "${client.path}"\n`,
          )
          .join("\n")}`,
      );
      await work.write(
        "treescale.toml",
        names
          .map(
            (name, i) =>
              `[servers.${name}]\nip = "127.0.0.1"\nservice_port = ${ports[i]}\n` +
              (name === root ? `childs = ${JSON.stringify(children)}\n` : ""),
          )
          .join("\n"),
      );
    }, 240_000);

    afterAll(async () => {
      await removeBuiltServers(names);
      await Promise.all(sshds.map((s) => s.stop()));
      await work?.remove();
    });

    it("killed once the image step has begun, and again while a node container is made, the next build converges", async () => {
      // This machine's engine already holds the image, so the image step ends at its check: the kill
      // lands as the first server reaches it, before any of its files or its container exist.
      const atImage = await buildKilledAt(/^\[[^\]]+\] image: /);
      expect(atImage.killed, atImage.stderr).toBe(true);
      // The second is killed as it starts creating a node container: files written, container half-made.
      const atNode = await buildKilledAt(/^\[[^\]]+\] node: (create|recreate) /);
      expect(atNode.stderr).toMatch(/\] config: /);

      const again = await runCli(
        ["build", "-f", join(work.dir, "console.toml"), "--accept-new-host-keys", "--timeout", "90"],
        { env },
      );
      expect(again.code, again.stdout + again.stderr).toBe(0);
      const nodes = JSON.parse((await runCli(["get", "nodes", "-o", "json"], { env })).stdout) as {
        name: string;
        status: string;
      }[];
      expect(nodes.map((n) => n.name).sort()).toEqual([...names].sort());
      expect(
        nodes.every((n) => n.status === "Ready"),
        JSON.stringify(nodes),
      ).toBe(true);
    }, 300_000);
  },
);

// A backend leaving a balancer on nftables stops getting new connections at once while its open
// ones go on (conntrack keeps their translation): real containers, real rules, real TCP.

import { execFileSync } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { connect, type Socket } from "node:net";
import { join } from "node:path";
import Docker from "dockerode";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireBuild, runCli, scratch } from "../../support/cli.js";
import { ensureTestImage, removeContainersOfNode, TEST_IMAGE, uniqueNodeName } from "../../support/docker.js";

const docker = new Docker();
const node = uniqueNodeName("lbd");
const STACK = "draintest";
let work: Awaited<ReturnType<typeof scratch>>;
let vip = "";
let env: Record<string, string>;
const sockets: Socket[] = [];

/** An echo server that first says which container it is: its hostname, then everything it is sent. */
const ECHO = `["sh", "-c", "printf '#!/bin/sh\\\\nhostname\\\\nexec cat\\\\n' > /echo && chmod +x /echo && exec nc -ll -p 81 -e /echo"]`;

async function apply(target: string) {
  await work.write(
    "app/app.toml",
    `stack = "${STACK}"
[containers.first]
image = "${TEST_IMAGE}"
command = ${ECHO}

[containers.second]
image = "${TEST_IMAGE}"
command = ${ECHO}

[balancers.echo]
address = "${vip}:9090"
backends = [{ container = "${target}", port = 81 }]
`,
  );
  return runCli(["apply", "--name", node, "--stop-timeout", "0", "-f", join(work.dir, "app")], { env });
}

/** A connection through the virtual address, and a way to read its next line. */
async function open(): Promise<{ socket: Socket; line(): Promise<string> }> {
  const socket = connect({ host: vip, port: 9090 });
  sockets.push(socket);
  const lines: string[] = [];
  let buffered = "";
  let wake: (() => void) | undefined;
  socket.on("data", (chunk: Buffer) => {
    buffered += chunk.toString();
    let end = buffered.indexOf("\n");
    while (end >= 0) {
      lines.push(buffered.slice(0, end));
      buffered = buffered.slice(end + 1);
      end = buffered.indexOf("\n");
    }
    wake?.();
  });
  await new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("error", reject);
  });
  const line = async () => {
    const deadline = Date.now() + 5000;
    while (lines.length === 0) {
      if (Date.now() > deadline) throw new Error("no line within 5 s");
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 100);
      });
    }
    return lines.shift() ?? "";
  };
  return { socket, line };
}

beforeAll(async () => {
  requireBuild();
  await ensureTestImage();
  work = await scratch();
  await mkdir(join(work.dir, "app"));
  env = { TREESCALE_HOME: join(work.dir, "home") };
  const subnet = (await docker.getNetwork("bridge").inspect()).IPAM?.Config?.[0]?.Subnet ?? "172.17.0.0/16";
  const [a, b] = subnet.split(".");
  vip = `${a}.${b}.254.${100 + (process.pid % 50)}`;
}, 60_000);

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  await removeContainersOfNode(node);
  const script = `delete element ip treescale services { ${vip} . tcp . 9090 }\nflush chain ip treescale svc_${STACK}_echo\ndelete chain ip treescale svc_${STACK}_echo\n`;
  try {
    execFileSync("nft", ["-f", "-"], { input: script, stdio: ["pipe", "ignore", "ignore"] });
  } catch {
    // Nothing of this test's left in the table.
  }
  await work?.remove();
});

describe("a backend leaving a balancer (nftables)", () => {
  it("gets no new connections at once, and its open connection goes on", async () => {
    const first = await apply("first");
    expect(first.code, first.stdout + first.stderr).toBe(0);
    const old = await open();
    const firstHost = await old.line();
    old.socket.write("ping\n");
    expect(await old.line()).toBe("ping");

    const moved = await apply("second");
    expect(moved.code, moved.stdout + moved.stderr).toBe(0);
    const fresh = await open();
    const secondHost = await fresh.line();
    expect(secondHost).not.toBe(firstHost);

    old.socket.write("still there\n");
    expect(await old.line()).toBe("still there");
  });
});

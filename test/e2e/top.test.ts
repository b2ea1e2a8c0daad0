// `treescale top` as a user runs it, against the embedded node on the real dockerd: one snapshot when
// stdout is not a terminal, and the live view on a pseudo-terminal (python3's pty module) that
// changes its sort on a key and quits at once on q, giving the terminal back.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CLI, callerEnvironment, requireBuild, resultOf, runCli, scratch } from "../support/cli.js";
import { ensureTestImage, removeContainersOfNode, TEST_IMAGE, uniqueNodeName } from "../support/docker.js";

const node = uniqueNodeName("e2e-top");
let work: Awaited<ReturnType<typeof scratch>>;
let env: Record<string, string>;

/**
 * Runs argv on a 40×160 pseudo-terminal; for each step, waits for its text to appear after the
 * previous step (30 s at most), then types its keys. Prints the output; on stderr, the ms from the
 * last keys to the end of the process.
 */
const PTY_DRIVER = `
import fcntl, json, os, pty, select, struct, sys, termios, time
steps, argv = json.loads(sys.argv[1]), sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 160, 0, 0))
    os.execvp(argv[0], argv)
out, mark, sent_at, deadline = b"", 0, None, time.time() + 30
while True:
    if steps and steps[0]["wait"].encode() in out[mark:]:
        mark = len(out)
        os.write(fd, steps.pop(0)["keys"].encode())
        sent_at = time.time()
    if time.time() > deadline:
        os.kill(pid, 9)
    ready, _, _ = select.select([fd], [], [], 0.1)
    if not ready:
        continue
    try:
        data = os.read(fd, 65536)
    except OSError:
        break
    if not data:
        break
    out += data
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace"))
sys.stderr.write(str(int((time.time() - sent_at) * 1000)) if sent_at else "-1")
sys.exit(os.waitstatus_to_exitcode(status))
`;

function onTerminal(steps: { wait: string; keys: string }[], args: string[]) {
  const child = spawn("python3", ["-c", PTY_DRIVER, JSON.stringify(steps), process.execPath, CLI, ...args], {
    env: { ...callerEnvironment(), ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  return resultOf(child);
}

const name = (resource: string, replica: number) => `app_${resource}_${replica}_${node}`;

beforeAll(async () => {
  requireBuild();
  await ensureTestImage();
  work = await scratch();
  env = { TREESCALE_HOME: join(work.dir, "home") };
  const manifest = await work.write(
    "app.toml",
    `stack = "app"\n[containers.idle]\nimage = "${TEST_IMAGE}"\ncommand = ["sleep", "3600"]\nreplicas = 2\n`,
  );
  const applied = await runCli(["apply", "--name", node, "--yes", "-f", manifest], { env });
  expect(applied.code, applied.stderr).toBe(0);
}, 60_000);

afterAll(async () => {
  await removeContainersOfNode(node);
  await work.remove();
});

describe("treescale top", () => {
  it("prints one snapshot and exits when stdout is not a terminal, figures aligned", async () => {
    const result = await runCli(["top", "--name", node, "--sort", "name"], { env });
    expect(result.code, result.stderr).toBe(0);
    const lines = result.stdout.trimEnd().split("\n");
    expect(lines[0]).toMatch(
      /^NODE\s+CONTAINER\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+BLOCK I\/O$/,
    );
    expect(lines.slice(1).map((line) => line.split(/\s+/)[1])).toEqual([name("idle", 1), name("idle", 2)]);
    for (const line of lines.slice(1)) expect(line).toMatch(/\d+\.\d\d%\s+[\d.]+[KMG]?i?B \/ [\d.]+[KMG]iB/);
    // Right-aligned figures: each column of the header ends where its values end.
    const cpuEnd = lines[0]!.indexOf("CPU %") + "CPU %".length;
    for (const line of lines.slice(1)) expect(line[cpuEnd - 1]).toBe("%");
  }, 30_000);

  it("-o json gives every container's figures, CPU and memory known", async () => {
    const result = await runCli(["top", "--name", node, "-o", "json", "--no-stream"], { env });
    expect(result.code, result.stderr).toBe(0);
    const snapshot = JSON.parse(result.stdout) as {
      nodes: { node: string; error?: string }[];
      containers: { name: string; node: string; cpuPercent: number | null; memoryBytes: number | null }[];
    };
    expect(snapshot.nodes).toEqual([{ node, at: expect.any(String) }]);
    expect(snapshot.containers.map((row) => row.name).sort()).toEqual([name("idle", 1), name("idle", 2)]);
    for (const row of snapshot.containers) {
      expect(row.cpuPercent).not.toBeNull();
      expect(row.memoryBytes).toBeGreaterThan(0);
    }
  }, 30_000);

  it("on a terminal: redraws in place, m sorts by memory, q quits at once and restores the terminal", async () => {
    const result = await onTerminal(
      [
        { wait: name("idle", 2), keys: "m" },
        { wait: "sorted by mem", keys: "q" },
      ],
      ["top", "--name", node],
    );
    expect(result.code, result.stdout).toBe(0);
    expect(result.stdout).toContain("\x1b[?1049h");
    expect(result.stdout).toContain("sorted by cpu");
    expect(result.stdout).toContain("sorted by mem");
    // The alternate screen is left and the cursor shown again after the last frame.
    const last = result.stdout.lastIndexOf("\x1b[?25h\x1b[?1049l");
    expect(last).toBeGreaterThan(result.stdout.lastIndexOf("sorted by mem"));
    // From q to the process gone: the embedded node this top started stops too.
    expect(Number(result.stderr)).toBeGreaterThanOrEqual(0);
    expect(Number(result.stderr)).toBeLessThan(5000);
  }, 40_000);

  it("--sort takes only what it lists", async () => {
    const result = await runCli(["top", "--name", node, "--sort", "pids"], { env });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("--sort");
    expect(result.stderr).toContain("cpu, mem, name, net, io");
  });
});

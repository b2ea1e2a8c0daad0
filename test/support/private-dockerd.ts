// A dockerd of the test's own (socket, data, exec root and bridge under a temp directory), so that a
// test can stop and start an engine under a node without touching the machine's, which other tests use.
// Never `--bridge none`: dockerd then deletes docker0, the machine engine's default bridge.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";
import { promisify } from "node:util";
import Docker from "dockerode";

const run = promisify(execFile);

export class PrivateDockerd {
  readonly socket: string;
  readonly bridge = `tsb${randomBytes(3).toString("hex")}`;
  #process: ChildProcess | undefined;
  #bridgeAdded = false;
  readonly log: string[] = [];

  private constructor(readonly dir: string) {
    this.socket = join(dir, "docker.sock");
  }

  /** Why a dockerd of its own cannot run here (not root, no dockerd), or undefined when it can. */
  static async unavailable(): Promise<string | undefined> {
    if (process.getuid?.() !== 0) return "a private dockerd needs root";
    try {
      await run("dockerd", ["--version"]);
    } catch (error) {
      return `no dockerd on this machine: ${(error as Error).message}`;
    }
    return undefined;
  }

  static async create(): Promise<PrivateDockerd> {
    // Short: the socket's path must fit a sockaddr_un.
    return new PrivateDockerd(await mkdtemp("/tmp/tsdk-"));
  }

  get host(): string {
    return `unix://${this.socket}`;
  }

  get docker(): Docker {
    return new Docker({ socketPath: this.socket });
  }

  get running(): boolean {
    return (
      this.#process !== undefined && this.#process.exitCode === null && this.#process.signalCode === null
    );
  }

  /** Starts dockerd and waits until it answers. */
  async start(timeoutMs = 60_000): Promise<void> {
    if (!this.#bridgeAdded) {
      const subnet = `10.${200 + (randomBytes(1)[0]! % 50)}.${randomBytes(1)[0]!}`;
      await run("ip", ["link", "add", this.bridge, "type", "bridge"]);
      this.#bridgeAdded = true;
      await run("ip", ["addr", "add", `${subnet}.1/24`, "dev", this.bridge]);
      await run("ip", ["link", "set", this.bridge, "up"]);
    }
    const child = spawn(
      "dockerd",
      [
        "--host",
        this.host,
        "--data-root",
        join(this.dir, "root"),
        "--exec-root",
        join(this.dir, "exec"),
        "--pidfile",
        join(this.dir, "docker.pid"),
        "--bridge",
        this.bridge,
        "--iptables=false",
        "--ip6tables=false",
        "--ip-forward=false",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    const keep = (chunk: Buffer) => {
      this.log.push(...chunk.toString().split("\n").filter(Boolean));
      if (this.log.length > 400) this.log.splice(0, this.log.length - 400);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    this.#process = child;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.running) throw new Error(`dockerd exited at start:\n${this.log.slice(-20).join("\n")}`);
      try {
        await this.docker.ping();
        return;
      } catch {
        if (Date.now() > deadline)
          throw new Error(
            `dockerd did not answer within ${timeoutMs} ms:\n${this.log.slice(-20).join("\n")}`,
          );
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  }

  /** Stops dockerd as an operator would (SIGTERM: its containers stop with it), SIGKILL after 30 s. */
  async stop(): Promise<void> {
    const child = this.#process;
    if (!child || !this.running) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
    await exited;
    clearTimeout(timer);
  }

  /** Copies an image of the machine's engine into this one. */
  async loadImage(image: string): Promise<void> {
    await run("sh", ["-c", `docker save "$0" | docker -H "$1" load`, image, this.host]);
  }

  /** Stops dockerd and removes everything it had: containers, bridge, directories. */
  async destroy(): Promise<void> {
    if (this.running) {
      await Promise.all(
        (await this.docker.listContainers({ all: true }).catch(() => [])).map((c) =>
          this.docker
            .getContainer(c.Id)
            .remove({ force: true })
            .catch(() => undefined),
        ),
      );
    }
    await this.stop();
    if (this.#bridgeAdded) await run("ip", ["link", "delete", this.bridge]).catch(() => undefined);
    for (const mount of ["exec", "root"]) {
      const path = join(this.dir, mount);
      if (existsSync(path)) await run("umount", ["-R", "-l", path]).catch(() => undefined);
    }
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Whether the machine engine's default bridge is there (a dockerd started with --bridge none deletes it). */
export async function hasDocker0(): Promise<boolean> {
  try {
    await run("ip", ["link", "show", "docker0"]);
    return true;
  } catch {
    return false;
  }
}

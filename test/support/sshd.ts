// A real OpenSSH server of the test's own: Debian's /usr/sbin/sshd in the foreground on 127.0.0.1 and
// a free port, with its host key, config, authorized keys and pid file in a temp dir. The machine's
// sshd and root's password are never touched. Password logins use dedicated system users, made once.
import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, rmdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "./net.js";

const exec = promisify(execFile);
const SSHD = "/usr/sbin/sshd";

export type Sshd = {
  host: "127.0.0.1";
  port: number;
  /** "SHA256:…" as ssh-keygen -lf prints it. */
  hostKeyFingerprint: string;
  /** "ssh-ed25519 AAAA…": a known_hosts line without its host name. */
  hostKeyPublic: string;
  /** What sshd printed (-e), for a failing test's message. */
  log: string[];
  stop(): Promise<void>;
};

export type SshdOptions = {
  passwordAuthentication?: boolean;
  permitRootLogin?: "prohibit-password" | "yes";
  /** Public keys (the .pub file's line) per user name. */
  authorizedKeys?: Record<string, string[]>;
};

/** Why no sshd of the test's own can run here, or undefined when it can. */
export function sshdUnavailable(): string | undefined {
  if (process.getuid?.() !== 0) return "a private sshd with password users needs root";
  if (!existsSync(SSHD)) return `${SSHD} is missing (apt-get install openssh-server)`;
  return undefined;
}

export async function startSshd(options: SshdOptions = {}): Promise<Sshd> {
  const dir = await mkdtemp(join(tmpdir(), "ts-sshd-"));
  try {
    return await launch(dir, options);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}

async function launch(dir: string, options: SshdOptions): Promise<Sshd> {
  // sshd reads authorized keys as the user logging in: the directory must let others through.
  await chmod(dir, 0o755);
  const hostKey = join(dir, "ssh_host_ed25519_key");
  await exec("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "treescale-test-host", "-f", hostKey]);
  const hostKeyPublic = (await readFile(`${hostKey}.pub`, "utf8")).trim().split(/\s+/).slice(0, 2).join(" ");
  const hostKeyFingerprint = (await exec("ssh-keygen", ["-l", "-f", `${hostKey}.pub`])).stdout.split(
    /\s+/,
  )[1]!;
  await mkdir(join(dir, "authorized_keys"), { mode: 0o755 });
  for (const [user, keys] of Object.entries(options.authorizedKeys ?? {}))
    await writeFile(join(dir, "authorized_keys", user), `${keys.join("\n")}\n`, { mode: 0o644 });
  // Privilege separation needs its empty directory; Debian makes it only when its own sshd starts.
  await mkdir("/run/sshd", { recursive: true, mode: 0o755 });

  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const config = join(dir, "sshd_config");
    await writeFile(
      config,
      [
        `Port ${port}`,
        "ListenAddress 127.0.0.1",
        `HostKey ${hostKey}`,
        `PidFile ${join(dir, "sshd.pid")}`,
        `AuthorizedKeysFile ${join(dir, "authorized_keys", "%u")}`,
        "StrictModes no",
        "UsePAM no",
        "PubkeyAuthentication yes",
        `PasswordAuthentication ${options.passwordAuthentication ? "yes" : "no"}`,
        "KbdInteractiveAuthentication no",
        `PermitRootLogin ${options.permitRootLogin ?? "prohibit-password"}`,
        "Subsystem sftp internal-sftp",
        "LogLevel VERBOSE",
        "",
      ].join("\n"),
    );
    const log: string[] = [];
    const child = spawn(SSHD, ["-D", "-e", "-f", config], { stdio: ["ignore", "ignore", "pipe"] });
    const listening = await new Promise<boolean>((resolve, reject) => {
      child.stderr?.on("data", (chunk: Buffer) => {
        const lines = chunk.toString().split("\n").filter(Boolean);
        log.push(...lines);
        if (lines.some((line) => line.includes(`Server listening on 127.0.0.1 port ${port}`))) resolve(true);
      });
      child.on("error", reject);
      child.on("exit", () => resolve(false));
    });
    if (listening)
      return {
        host: "127.0.0.1",
        port,
        hostKeyFingerprint,
        hostKeyPublic,
        log,
        stop: () => stop(child, dir),
      };
    // Another process may have taken the port between freePort() and sshd's bind.
    if (attempt >= 3 || !log.some((line) => line.includes("Address already in use")))
      throw new Error(`sshd did not start:\n${log.slice(-20).join("\n")}`);
  }
}

async function stop(child: ChildProcess, dir: string): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) {
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    await exited;
  }
  await rm(dir, { recursive: true, force: true });
}

/** A key pair made for one test: its private key file and the public key line for authorized_keys. */
export async function makeClientKey(
  dir: string,
  name = "id_ed25519",
): Promise<{ path: string; publicKey: string }> {
  const path = join(dir, name);
  await exec("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "treescale-test-client", "-f", path]);
  return { path, publicKey: (await readFile(`${path}.pub`, "utf8")).trim() };
}

export type TestUser = { user: string; password: string };

/**
 * The system users password logins use: `treescale-test` with passwordless sudo, `treescale-sudopw`
 * whose sudo asks for its password; both in the docker group. Created once (useradd -m). Their
 * password is random, made when none is on record and kept root-only under /run (gone at reboot), so
 * test files running in parallel agree on it. Never root's.
 */
export const TEST_USERS = {
  passwordlessSudo: "treescale-test",
  passwordSudo: "treescale-sudopw",
} as const;

const PASSWORD_FILE = "/run/treescale-test-users.password";
const LOCK_DIR = "/run/treescale-test-users.lock";

export async function ensureTestUser(user: (typeof TEST_USERS)[keyof typeof TEST_USERS]): Promise<TestUser> {
  const password = await withLock(async () => {
    for (const name of Object.values(TEST_USERS)) await ensureUser(name);
    const recorded = await readFile(PASSWORD_FILE, "utf8").catch(() => "");
    if (recorded !== "") return recorded;
    const fresh = randomBytes(18).toString("base64url");
    // chpasswd reads "user:password" lines on stdin: the password is on no command line.
    await run(
      "chpasswd",
      [],
      Object.values(TEST_USERS)
        .map((name) => `${name}:${fresh}\n`)
        .join(""),
    );
    await writeFile(PASSWORD_FILE, fresh, { mode: 0o600 });
    return fresh;
  });
  return { user, password };
}

async function ensureUser(name: string): Promise<void> {
  const exists = await exec("id", ["-u", name]).then(
    () => true,
    () => false,
  );
  if (!exists) await exec("useradd", ["-m", "-s", "/bin/bash", name]);
  const groups = (await exec("getent", ["group", "docker"]).catch(() => ({ stdout: "" }))).stdout;
  if (groups !== "") await exec("usermod", ["-aG", "docker", name]);
  if (!existsSync("/etc/sudoers.d")) return;
  const rule =
    name === TEST_USERS.passwordlessSudo
      ? `${name} ALL=(ALL:ALL) NOPASSWD: ALL\n`
      : `${name} ALL=(ALL:ALL) ALL\n`;
  const file = `/etc/sudoers.d/${name}`;
  if ((await readFile(file, "utf8").catch(() => "")) === rule) return;
  const candidate = `${file}.new`;
  await writeFile(candidate, rule, { mode: 0o440 });
  await exec("visudo", ["-c", "-q", "-f", candidate]);
  await exec("mv", ["-f", candidate, file]);
}

/** A lock between test files (workers) on this machine: mkdir is atomic. A holder dead for 60 s is stale. */
async function withLock<T>(body: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      await mkdir(LOCK_DIR);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      if (Date.now() > deadline) await rmdir(LOCK_DIR).catch(() => undefined);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  try {
    return await body();
  } finally {
    await rmdir(LOCK_DIR).catch(() => undefined);
  }
}

function run(file: string, args: string[], input: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: ["pipe", "ignore", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("error", reject);
    child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`${file} failed: ${stderr}`))));
    child.stdin.end(input);
  });
}

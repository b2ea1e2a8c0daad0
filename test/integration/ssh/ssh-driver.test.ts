// The SSH driver against a real OpenSSH server of the test's own (test/support/sshd.ts) on loopback:
// logins, sudo, host key checks, atomic writes, uploads and deadlines. The server runs on this machine,
// so what it did (files, processes) is checked here directly.
import { createHash, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, link, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectSsh, type SshSession, type SshTarget } from "../../../src/drivers/ssh.js";
import { AbortedError } from "../../../src/errors.js";
import { freePort } from "../../support/net.js";
import { eventually } from "../../support/poll.js";
import {
  ensureTestUser,
  makeClientKey,
  type Sshd,
  sshdUnavailable,
  startSshd,
  TEST_USERS,
  type TestUser,
} from "../../support/sshd.js";

const unavailable = sshdUnavailable();
if (unavailable) console.warn(`ssh driver tests skipped: ${unavailable}`);

let dir: string;
let sshd: Sshd;
let rootKey: string;
let sudoPasswordUser: TestUser;
let sudoFreeUser: TestUser;
const sessions: SshSession[] = [];

beforeAll(async () => {
  if (unavailable) return;
  dir = await mkdtemp(join(tmpdir(), "ts-ssh-test-"));
  // Users reach the files the tests write for them.
  await chmod(dir, 0o755);
  const key = await makeClientKey(dir);
  rootKey = key.path;
  sudoPasswordUser = await ensureTestUser(TEST_USERS.passwordSudo);
  sudoFreeUser = await ensureTestUser(TEST_USERS.passwordlessSudo);
  sshd = await startSshd({ passwordAuthentication: true, authorizedKeys: { root: [key.publicKey] } });
});

afterAll(async () => {
  for (const session of sessions) session.close();
  await sshd?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Overrides may unset a field (keyPath: undefined for a password login, hostKey for known_hosts). */
type Overrides = { [Field in keyof SshTarget]?: SshTarget[Field] | undefined };

function target(overrides: Overrides = {}): SshTarget {
  const merged = {
    host: sshd.host,
    port: sshd.port,
    user: "root",
    keyPath: rootKey,
    hostKey: sshd.hostKeyFingerprint,
    ...overrides,
  };
  return Object.fromEntries(Object.entries(merged).filter(([, value]) => value !== undefined)) as SshTarget;
}

async function connect(overrides: Overrides = {}): Promise<SshSession> {
  const session = await connectSsh(target(overrides), { timeoutMs: 10_000 });
  sessions.push(session);
  return session;
}

async function refusal(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code?: string };
  }
  throw new Error("expected a refusal, but it succeeded");
}

/** Every command line of a process on this machine (the server's are among them). */
async function commandLines(): Promise<string[]> {
  const pids = (await readdir("/proc")).filter((name) => /^\d+$/.test(name));
  const lines = await Promise.all(
    pids.map((pid) => readFile(`/proc/${pid}/cmdline`, "utf8").catch(() => "")),
  );
  return lines.map((line) => line.replaceAll("\0", " "));
}

describe.skipIf(unavailable)("ssh driver against a real sshd", () => {
  it("root logs in with a key and runs argv: exit code, stdout and stderr come back, a failure does not throw", async () => {
    const session = await connect();
    const result = await session.run(["sh", "-c", "echo out; echo err >&2; exit 3"]);
    expect(result).toEqual({ code: 3, stdout: "out\n", stderr: "err\n" });
    expect(await session.run(["cat"], { stdin: "fed on stdin" })).toMatchObject({
      code: 0,
      stdout: "fed on stdin",
    });
    expect((await session.run(["id", "-u"], { sudo: true })).stdout.trim()).toBe("0");
  });

  it("a word full of shell syntax arrives as one argument and nothing runs it", async () => {
    const session = await connect();
    const marker = `/tmp/pwned-${randomBytes(6).toString("hex")}`;
    const words = [
      `x; touch ${marker}`,
      `$(touch ${marker})`,
      `\`touch ${marker}\``,
      `it's | touch ${marker} &`,
    ];
    const result = await session.run(["printf", "%s\\n", ...words]);
    expect(result.stdout).toBe(words.map((word) => `${word}\n`).join(""));
    const separate = await session.run(["sh", "-c", 'printf "%s|" "$#" "$@"', "sh", ...words]);
    expect(separate.stdout).toBe(`${words.length}|${words.map((word) => `${word}|`).join("")}`);
    expect(existsSync(marker)).toBe(false);
  });

  it("runAll runs many commands in one exec, each word as data, and gives each its own result; with sudo too", async () => {
    const marker = `/tmp/pwned-${randomBytes(6).toString("hex")}`;
    const root = await connect();
    const [id, failed, words] = await root.runAll([
      ["id", "-u"],
      ["sh", "-c", "echo no >&2; exit 4"],
      ["printf", "%s|", `x; touch ${marker}`, `$(touch ${marker})`],
    ]);
    expect(id).toEqual({ code: 0, stdout: "0\n", stderr: "" });
    expect(failed).toEqual({ code: 4, stdout: "", stderr: "no\n" });
    expect(words?.stdout).toBe(`x; touch ${marker}|$(touch ${marker})|`);
    expect(existsSync(marker)).toBe(false);
    // One exec: sshd logs one session per channel it starts a command in.
    const before = sshd.log.filter((line) => /Starting session: command/.test(line)).length;
    await root.runAll([["true"], ["true"], ["true"]]);
    expect(sshd.log.filter((line) => /Starting session: command/.test(line)).length - before).toBe(1);

    const { user, password } = sudoPasswordUser;
    const session = await connect({ user, password, keyPath: undefined });
    const asSudo = await session.runAll(
      [
        ["id", "-u"],
        ["id", "-un"],
      ],
      { sudo: true },
    );
    expect(asSudo.map((r) => r.stdout.trim())).toEqual(["0", "root"]);
  });

  it("a password user logs in; sudo takes the password on stdin, never on a command line, and the caller's stdin follows", async () => {
    const { user, password } = sudoPasswordUser;
    const session = await connect({ user, password, keyPath: undefined });
    expect((await session.run(["id", "-un"])).stdout.trim()).toBe(user);
    expect((await session.run(["id", "-u"], { sudo: true })).stdout.trim()).toBe("0");
    // The password line went to sudo, not to cat.
    expect(await session.run(["cat"], { sudo: true, stdin: "only this" })).toMatchObject({
      code: 0,
      stdout: "only this",
    });
    const sleeping = session.run(["sleep", "1.5"], { sudo: true });
    const seen = await eventually(async () => {
      const lines = await commandLines();
      return lines.some((line) => line.includes("sleep 1.5")) ? lines : undefined;
    }, 5_000);
    expect(seen.filter((line) => line.includes(password))).toEqual([]);
    expect((await sleeping).code).toBe(0);
  });

  it("passwordless sudo never gets the password written to it: the command's stdin is the caller's alone", async () => {
    const { user, password } = sudoFreeUser;
    const session = await connect({ user, password, keyPath: undefined });
    expect(await session.run(["cat"], { sudo: true, stdin: "payload" })).toMatchObject({
      code: 0,
      stdout: "payload",
    });
  });

  it("a wrong password fails with SSH_AUTH_FAILED naming the methods tried, never the password", async () => {
    const wrong = `wrong-${randomBytes(6).toString("hex")}`;
    const error = await refusal(
      connect({ user: sudoPasswordUser.user, password: wrong, keyPath: undefined }),
    );
    expect(error.code).toBe("SSH_AUTH_FAILED");
    expect(error.message).toMatch(/tried password/);
    expect(error.message).toMatch(/server accepts .*publickey/);
    expect(error.message).not.toContain(wrong);
  });

  it("a key the server does not know fails with SSH_AUTH_FAILED naming the key file", async () => {
    const stranger = await makeClientKey(dir, "stranger");
    const error = await refusal(connect({ keyPath: stranger.path }));
    expect(error.code).toBe("SSH_AUTH_FAILED");
    expect(error.message).toContain(`publickey (${stranger.path})`);
  });

  describe("host keys", () => {
    let impostor: Sshd;
    beforeAll(async () => {
      impostor = await startSshd({
        authorizedKeys: { root: [(await readFile(`${rootKey}.pub`, "utf8")).trim()] },
      });
    });
    afterAll(async () => {
      await impostor?.stop();
    });

    it("a server presenting another key than the pin is refused with SSH_HOST_KEY_CHANGED naming both", async () => {
      const error = await refusal(connect({ port: impostor.port }));
      expect(error.code).toBe("SSH_HOST_KEY_CHANGED");
      expect(error.message).toContain(sshd.hostKeyFingerprint);
      expect(error.message).toContain(impostor.hostKeyFingerprint);
    });

    it("a server presenting another key than known_hosts records is refused, naming the file, line and both keys", async () => {
      const knownHosts = join(dir, "known_hosts-changed");
      await writeFile(knownHosts, `# first line\n[127.0.0.1]:${impostor.port} ${sshd.hostKeyPublic}\n`);
      const error = await refusal(
        connect({ port: impostor.port, hostKey: undefined, knownHosts, acceptNew: true }),
      );
      expect(error.code).toBe("SSH_HOST_KEY_CHANGED");
      expect(error.message).toContain(sshd.hostKeyFingerprint);
      expect(error.message).toContain(impostor.hostKeyFingerprint);
      expect(error.message).toContain(`${knownHosts} expects`);
      expect(error.message).toContain("line 2");
      // acceptNew never overwrites or adds to a changed entry.
      expect((await readFile(knownHosts, "utf8")).split("\n").filter(Boolean)).toHaveLength(2);
    });

    it("an unknown key is refused without acceptNew, saying how to pin it; with it, accepted and recorded", async () => {
      const knownHosts = join(dir, "known_hosts-new");
      const unknown = { hostKey: undefined, knownHosts };
      const error = await refusal(connect(unknown));
      expect(error.code).toBe("SSH_HOST_KEY_UNKNOWN");
      expect(error.message).toContain(`host_key = "${sshd.hostKeyFingerprint}"`);
      expect(existsSync(knownHosts)).toBe(false);

      const session = await connect({ ...unknown, acceptNew: true });
      expect((await session.run(["true"])).code).toBe(0);
      expect(await readFile(knownHosts, "utf8")).toBe(`[127.0.0.1]:${sshd.port} ${sshd.hostKeyPublic}\n`);
      // Now known: no acceptNew needed.
      expect((await (await connect(unknown)).run(["true"])).code).toBe(0);
    });

    it("a hashed known_hosts entry (ssh-keygen -H) is recognised", async () => {
      const knownHosts = join(dir, "known_hosts-hashed");
      await writeFile(knownHosts, `[127.0.0.1]:${sshd.port} ${sshd.hostKeyPublic}\n`);
      const { execFile } = await import("node:child_process");
      await new Promise<void>((resolve, reject) =>
        execFile("ssh-keygen", ["-H", "-f", knownHosts], (error) => (error ? reject(error) : resolve())),
      );
      expect(await readFile(knownHosts, "utf8")).toMatch(/^\|1\|/);
      expect((await (await connect({ hostKey: undefined, knownHosts })).run(["true"])).code).toBe(0);
    });
  });

  describe("files", () => {
    /** A file with a second hard link: replaced by a rename, the link keeps the old bytes; rewritten in place, it would not. */
    async function existing(path: string): Promise<string> {
      await writeFile(path, "old contents");
      await link(path, `${path}.link`);
      return `${path}.link`;
    }

    it("writeFile replaces a file atomically (temp file + rename) with the mode asked for, leaving no temp file", async () => {
      const session = await connect();
      const folder = await mkdtemp(join(dir, "write-"));
      const path = join(folder, "node.toml");
      const oldLink = await existing(path);
      await session.writeFile(path, 'name = "web1"\n', { mode: 0o600 });
      expect(await readFile(path, "utf8")).toBe('name = "web1"\n');
      expect(await readFile(oldLink, "utf8")).toBe("old contents");
      expect((await stat(path)).mode & 0o777).toBe(0o600);
      expect((await readdir(folder)).sort()).toEqual(["node.toml", "node.toml.link"]);
    });

    it("writeFile with sudo writes a root-owned place as a password user, atomically and with the mode", async () => {
      const { user, password } = sudoPasswordUser;
      const session = await connect({ user, password, keyPath: undefined });
      const folder = await mkdtemp(join(dir, "root-only-"));
      await chmod(folder, 0o755);
      const path = join(folder, "daemon.json");
      const oldLink = await existing(path);
      const denied = await refusal(session.writeFile(path, "{}"));
      expect(denied.code).toBe("SSH_TRANSFER_FAILED");
      expect(denied.message).toMatch(/pass sudo/);

      await session.writeFile(path, '{"live-restore": true}\n', { mode: 0o640, sudo: true });
      expect(await readFile(path, "utf8")).toBe('{"live-restore": true}\n');
      expect(await readFile(oldLink, "utf8")).toBe("old contents");
      const stats = await stat(path);
      expect([stats.mode & 0o777, stats.uid]).toEqual([0o640, 0]);
      expect((await readdir(folder)).sort()).toEqual(["daemon.json", "daemon.json.link"]);
    });

    it("upload streams a multi-MB stream to the remote path and it arrives byte for byte", async () => {
      const session = await connect();
      const hash = createHash("sha256");
      const chunks = Array.from({ length: 40 }, (_, index) => randomBytes(150_000 + index * 1000));
      for (const chunk of chunks) hash.update(chunk);
      const path = join(dir, "image.tar");
      await session.upload(Readable.from(chunks), path, { timeoutMs: 10_000 });
      const remote = await session.run(["sha256sum", path]);
      expect(remote.stdout.split(" ")[0]).toBe(hash.digest("hex"));
      expect((await stat(path)).size).toBe(chunks.reduce((sum, chunk) => sum + chunk.length, 0));
    });
  });

  describe("deadlines", () => {
    it("a run that overruns its timeoutMs fails with SSH_TIMEOUT within seconds, and its process is stopped", async () => {
      // Not as root: OpenSSH refuses signal requests in a root session (it runs without privilege separation).
      const { user, password } = sudoFreeUser;
      const session = await connect({ user, password, keyPath: undefined });
      for (const [command, sudo] of [
        ["sleep 10.25", false],
        ["sleep 10.5", true],
      ] as const) {
        const started = Date.now();
        const error = await refusal(session.run(command.split(" "), { timeoutMs: 500, sudo }));
        expect(error.code).toBe("SSH_TIMEOUT");
        expect(error.message).toContain(command);
        expect(Date.now() - started).toBeLessThan(3_000);
        await eventually(
          async () => ((await commandLines()).some((line) => line.includes(command)) ? undefined : true),
          5_000,
        );
      }
    });

    it("an aborted signal ends a run at once with AbortedError, and its process is stopped", async () => {
      const { user, password } = sudoFreeUser;
      const session = await connect({ user, password, keyPath: undefined });
      const controller = new AbortController();
      setTimeout(() => controller.abort(new Error("operator pressed Ctrl-C")), 200);
      const error = await refusal(session.run(["sleep", "10.75"], { signal: controller.signal }));
      expect(error).toBeInstanceOf(AbortedError);
      expect(error.message).toContain("Ctrl-C");
      await eventually(
        async () => ((await commandLines()).some((line) => line.includes("sleep 10.75")) ? undefined : true),
        5_000,
      );
    });

    it("a port nobody listens on fails with SSH_UNREACHABLE naming host and port", async () => {
      const port = await freePort();
      const error = await refusal(connect({ port }));
      expect(error.code).toBe("SSH_UNREACHABLE");
      expect(error.message).toContain(`127.0.0.1:${port}`);
      expect(error.message).toContain("ECONNREFUSED");
    });

    it("a server that accepts TCP but never speaks SSH fails with SSH_TIMEOUT saying what was awaited", async () => {
      const { createServer } = await import("node:net");
      const silent = createServer(() => undefined);
      await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
      const port = (silent.address() as { port: number }).port;
      try {
        const error = await refusal(connectSsh(target({ port }), { timeoutMs: 500 }));
        expect(error.code).toBe("SSH_TIMEOUT");
        expect(error.message).toMatch(/SSH handshake/);
      } finally {
        silent.close();
      }
    });
  });
});

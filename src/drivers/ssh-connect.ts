// Opens an authenticated ssh2 connection: the host key checked against a pin or known_hosts before
// any credential is sent, then key, password and agent tried in that order, all under one deadline.
// ssh2 is imported on first use: it is a dependency of the server controller only, and keeping it out
// of the CLI's start-up (and out of the bundle, for its optional native addons) costs nothing.
import { readFile } from "node:fs/promises";
import type { AnyAuthMethod, AuthenticationType, Client, ConnectConfig, ServerHostKeyAlgorithm } from "ssh2";
import { AbortedError, errorMessage, UsageError } from "../errors.js";
import { withDeadline } from "./deadline.js";
import {
  appendKnownHost,
  checkHostKey,
  defaultKnownHostsPath,
  fingerprintOf,
  type HostKeyVerdict,
  type KnownHostEntry,
  keyTypeOf,
  knownHostName,
  knownHostsLine,
  readKnownHosts,
  recordedKeyTypes,
  sameFingerprint,
} from "./known-hosts.js";
import { SSH_ERROR, SshError } from "./ssh-errors.js";
import { describeTarget, type SshTarget } from "./ssh-target.js";

export const DEFAULT_CONNECT_TIMEOUT_MS = 20_000;
const KEEPALIVE_INTERVAL_MS = 10_000;
const KEEPALIVE_COUNT_MAX = 3;

// ssh2's own preference; a destination's recorded key types move to the front, as ssh(1) does,
// so a server with several host keys presents the one on record rather than "changing" it.
const HOST_KEY_ALGORITHMS: readonly ServerHostKeyAlgorithm[] = [
  "ssh-ed25519",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "rsa-sha2-512",
  "rsa-sha2-256",
  "ssh-rsa",
];

/** The host key policy for one connection: check a presented key, and what to record once logged in. */
type HostKeyCheck = { verify: (key: Buffer) => SshError | undefined; record?: Buffer };

export async function openConnection(
  target: SshTarget,
  options: { timeoutMs?: number; signal?: AbortSignal } = {},
): Promise<Client> {
  const destination = describeTarget(target);
  const timeoutMs = options.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  let waitingFor = `a TCP connection to ${target.host}:${target.port}`;
  return withDeadline(
    {
      timeoutMs,
      signal: options.signal,
      timedOut: () =>
        new SshError(
          SSH_ERROR.timeout,
          destination,
          `${destination}: no ${waitingFor} within ${timeoutMs} ms`,
        ),
      aborted: (reason) =>
        new AbortedError(`connecting to ${destination} was aborted: ${errorMessage(reason)}`, {
          cause: reason,
        }),
    },
    async (signal) => {
      const knownHostsPath = target.knownHosts ?? defaultKnownHostsPath();
      const entries = target.hostKey === undefined ? await readKnownHosts(knownHostsPath) : [];
      const methods = await authMethods(target);
      const { default: ssh2 } = await import("ssh2");
      const client = new ssh2.Client();
      const hostKey = hostKeyCheck(target, entries, knownHostsPath);
      let refused: SshError | undefined;
      const tried: string[] = [];
      let accepted: AuthenticationType[] | undefined;
      const preferred = recordedKeyTypes(entries, target.host, target.port).flatMap(algorithmsFor);
      const config: ConnectConfig = {
        host: target.host,
        port: target.port,
        username: target.user,
        // The deadline is ours; ssh2's own would only race it.
        readyTimeout: timeoutMs + 1000,
        keepaliveInterval: KEEPALIVE_INTERVAL_MS,
        keepaliveCountMax: KEEPALIVE_COUNT_MAX,
        algorithms: {
          serverHostKey: [...new Set([...preferred, ...HOST_KEY_ALGORITHMS])],
        },
        hostVerifier: (key: Buffer) => {
          refused = hostKey.verify(key);
          waitingFor = `SSH login (${methods.map(({ type }) => type).join(", ")})`;
          return refused === undefined;
        },
        authHandler: (methodsLeft, _partialSuccess, next) => {
          // null on the first call; afterwards what the server still accepts.
          if (methodsLeft) accepted = methodsLeft;
          let method = methods.shift();
          while (method && accepted && !accepted.includes(wireName(method))) method = methods.shift();
          if (!method) return (next as (method: AnyAuthMethod | false) => void)(false);
          tried.push(describeMethod(method, target));
          return next(method);
        },
      };
      await new Promise<void>((resolve, reject) => {
        const fail = (error: Error) => {
          client.end();
          reject(error);
        };
        const onError = (error: Error & { level?: string }) =>
          fail(refused ?? classify(error, destination, tried, accepted));
        const onClose = () =>
          fail(
            refused ??
              new SshError(
                SSH_ERROR.unreachable,
                destination,
                `${destination} closed the connection before login (while waiting for ${waitingFor})`,
              ),
          );
        signal.addEventListener("abort", () => client.destroy(), { once: true });
        client.on("connect", () => {
          waitingFor = `SSH handshake with ${target.host}:${target.port}`;
        });
        client.on("error", onError);
        client.on("close", onClose);
        // These listeners stay: after login they only end a client that failed (settled, reject is a
        // no-op), and an "error" event with no listener would throw.
        client.once("ready", () => resolve());
        client.connect(config);
      });
      if (hostKey.record) {
        try {
          await appendKnownHost(knownHostsPath, knownHostsLine(target.host, target.port, hostKey.record));
        } catch (error) {
          client.end();
          throw new UsageError(
            `cannot record the host key of ${destination} in ${knownHostsPath}: ${errorMessage(error)}`,
            {
              cause: error,
            },
          );
        }
      }
      return client;
    },
  );
}

function algorithmsFor(keyType: string): ServerHostKeyAlgorithm[] {
  if (keyType === "ssh-rsa") return ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"];
  return HOST_KEY_ALGORITHMS.filter((algorithm) => algorithm === keyType);
}

function hostKeyCheck(target: SshTarget, entries: readonly KnownHostEntry[], path: string): HostKeyCheck {
  const destination = describeTarget(target);
  const pin = target.hostKey;
  if (pin !== undefined) {
    if (!/^SHA256:[A-Za-z0-9+/]{43}=?$/.test(pin.trim()))
      throw new UsageError(
        `host_key for ${destination} must be a SHA256 fingerprint as \`ssh-keygen -lf <key>.pub\` prints it ("SHA256:" and 43 base64 characters), not "${pin}"`,
      );
    return {
      verify: (key) => {
        const presented = fingerprintOf(key);
        if (sameFingerprint(pin, presented)) return undefined;
        return new SshError(
          SSH_ERROR.hostKeyChanged,
          destination,
          `the host key of ${destination} does not match its pin: host_key is ${pin.trim()}, the server presented ${keyTypeOf(key)} ${presented}. ` +
            "If the server was reinstalled, check its key out of band (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on it) and update host_key; otherwise the connection may be intercepted",
        );
      },
    };
  }
  const check: HostKeyCheck = {
    verify: (key) => {
      const verdict = checkHostKey(entries, target.host, target.port, key);
      if (verdict.type === "unknown" && target.acceptNew) check.record = key;
      return verdictError(verdict, key, target, path);
    },
  };
  return check;
}

function verdictError(
  verdict: HostKeyVerdict,
  key: Buffer,
  target: SshTarget,
  path: string,
): SshError | undefined {
  const destination = describeTarget(target);
  const presented = `${keyTypeOf(key)} ${fingerprintOf(key)}`;
  const name = knownHostName(target.host, target.port);
  switch (verdict.type) {
    case "known":
      return undefined;
    case "unknown":
      if (target.acceptNew) return undefined;
      return new SshError(
        SSH_ERROR.hostKeyUnknown,
        destination,
        `the host key of ${destination} is unknown: it presented ${presented}, and ${path} has no entry for ${name}. ` +
          `Check it out of band (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub on the server), then pin it with host_key = "${fingerprintOf(key)}", ` +
          "or allow accept-new to record a first-seen key",
      );
    case "revoked":
      return new SshError(
        SSH_ERROR.hostKeyRevoked,
        destination,
        `the host key of ${destination} (${presented}) is marked @revoked in ${path} line ${verdict.entry.line}`,
      );
    case "changed": {
      const expected = verdict.entries
        .map((entry) => `${entry.keyType} ${fingerprintOf(entry.key)} (line ${entry.line})`)
        .join(", ");
      return new SshError(
        SSH_ERROR.hostKeyChanged,
        destination,
        `the host key of ${destination} has changed: ${path} expects ${expected}, the server presented ${presented}. ` +
          `If the server was reinstalled, remove the old entry (ssh-keygen -R '${name}' -f ${path}) and check the new key out of band; ` +
          "otherwise the connection may be intercepted",
      );
    }
  }
}

async function authMethods(target: SshTarget): Promise<AnyAuthMethod[]> {
  const username = target.user;
  const methods: AnyAuthMethod[] = [];
  if (target.keyPath !== undefined) {
    let key: Buffer;
    try {
      key = await readFile(target.keyPath);
    } catch (error) {
      throw new SshError(
        SSH_ERROR.authFailed,
        describeTarget(target),
        `cannot read the private key ${target.keyPath} for ${describeTarget(target)}: ${errorMessage(error)}`,
        { cause: error },
      );
    }
    methods.push({ type: "publickey", username, key });
  }
  const { password } = target;
  if (password !== undefined) {
    methods.push({ type: "password", username, password });
    methods.push({
      type: "keyboard-interactive",
      username,
      prompt: (_name, _instructions, _lang, prompts, finish) => finish(prompts.map(() => password)),
    });
  }
  const agent = process.env.SSH_AUTH_SOCK;
  if (target.agent && agent) methods.push({ type: "agent", username, agent });
  if (methods.length === 0)
    throw new SshError(
      SSH_ERROR.authFailed,
      describeTarget(target),
      `no way to log in to ${describeTarget(target)}: give a private key, a password` +
        (target.agent ? " (the agent is asked for, but SSH_AUTH_SOCK is not set)" : ", or use the ssh-agent"),
    );
  return methods;
}

/** The method's name in the server's list of what it accepts. */
function wireName(method: AnyAuthMethod): AuthenticationType {
  return method.type === "agent" ? "publickey" : method.type;
}

function describeMethod(method: AnyAuthMethod, target: SshTarget): string {
  if (method.type === "publickey") return `publickey (${target.keyPath})`;
  if (method.type === "agent") return "publickey (ssh-agent)";
  return method.type;
}

function classify(
  error: Error & { level?: string },
  destination: string,
  tried: readonly string[],
  accepted: readonly AuthenticationType[] | undefined,
): SshError {
  if (error.level === "client-authentication") {
    return new SshError(
      SSH_ERROR.authFailed,
      destination,
      `cannot log in to ${destination}: tried ${tried.join(", ") || "no method"}` +
        (accepted ? `; the server accepts ${accepted.join(", ")}` : "") +
        ". Check the user, the key (is its public half in the user's authorized_keys?) or the password",
      { cause: error },
    );
  }
  if (error.level === "client-timeout")
    return new SshError(SSH_ERROR.timeout, destination, `${destination}: ${error.message}`, { cause: error });
  const doing =
    error.level === "client-socket" || error.level === "client-dns"
      ? "cannot reach"
      : "SSH handshake failed with";
  return new SshError(SSH_ERROR.unreachable, destination, `${doing} ${destination}: ${error.message}`, {
    cause: error,
  });
}

#!/usr/bin/env node
// The CLI's composition point and its one error boundary: the kinds (controllers and the drivers
// they act with) are wired here and handed down, the verb being run registers itself, and every
// expected failure arrives here as a typed error and leaves as an exit code.
import { Command, CommanderError } from "commander";
import { builtinControllers } from "../../controllers/index.js";
import { ExitError, InternalError, ManifestIssuesError, TreescaleError, UsageError } from "../errors.js";
import { VERSION } from "../version.js";
import { registerCommands } from "./commands.js";
import type { Kinds } from "./kinds.js";

/** The drivers are loaded and made only when a node's agent starts: planning never touches Docker. */
const kinds: Kinds = ({ nodeImage, ...options } = {}) =>
  builtinControllers({
    docker: async () => {
      const [{ DockerEngine }, { DockerEventSource }] = await Promise.all([
        import("../drivers/docker.js"),
        import("../drivers/docker-events.js"),
      ]);
      const engine = new DockerEngine();
      return { engine, events: new DockerEventSource(), stats: engine, logs: engine, restarts: engine };
    },
    balancer: async (host) => {
      const [{ nft }, { ipvs }, { ipvsRecordStore }, { conntrackReader }, { bridgeMacPinner }] =
        await Promise.all([
          import("../drivers/nft.js"),
          import("../drivers/ipvs.js"),
          import("../state/ipvs-record.js"),
          import("../drivers/conntrack.js"),
          import("../drivers/bridge-mac.js"),
        ]);
      return {
        nft,
        ipvs,
        record: ipvsRecordStore(host.home, host.node),
        conntrack: conntrackReader(),
        bridges: bridgeMacPinner(),
      };
    },
    server: {
      connect: async (server, acceptNewHostKey) => {
        const [{ connectSsh }, { targetOf }] = await Promise.all([
          import("../drivers/ssh.js"),
          import("../drivers/ssh-target.js"),
        ]);
        return connectSsh(targetOf(server.ssh!, acceptNewHostKey));
      },
      image: async () =>
        (await import("../drivers/local-image.js")).localImage(nodeImage ?? `treescale/node:${VERSION}`),
      credentials: async (servers) => {
        const [{ chosenContext, ensureCredentials }, { hasTreeCa, ensureTreeTls }, { treescaleHome }] =
          await Promise.all([
            import("../state/contexts.js"),
            import("../state/tree-tls.js"),
            import("../state/stack-files.js"),
          ]);
        const home = treescaleHome();
        const context = await chosenContext(home, process.env.TREESCALE_CONTEXT || undefined);
        // New credentials would give the server a secret the rest of the tree does not share.
        if (!context)
          throw new TreescaleError(
            "NO_CONTEXT",
            "no credentials for this tree on this machine: run treescale build -f … first (it makes and keeps them), or choose its context with --context / $TREESCALE_CONTEXT",
          );
        const credentials = await ensureCredentials(home, context.name);
        // A tree built with TLS gets a server added by apply into it with a certificate of the same CA.
        if (!(await hasTreeCa(home, context.name))) return credentials;
        const { ca, nodes } = await ensureTreeTls(home, context.name, servers);
        return { ...credentials, tls: { ca, nodes } };
      },
    },
    ...options,
  });

async function main(argv: string[]): Promise<number> {
  const program = new Command("treescale")
    .description("Declarative fleet manager over an always-connected tree of servers")
    .version(VERSION, "-v, --version")
    .exitOverride()
    .showHelpAfterError("(run with --help for usage)");
  const json = wantsJson(argv.slice(2));
  // Commander's own messages (an unknown flag, a bad choice) are JSON too when -o json was asked for.
  if (json) program.configureOutput({ writeErr: () => undefined });
  try {
    await registerCommands(program, argv.slice(2), kinds);
    await program.parseAsync(argv);
    return process.exitCode === undefined ? 0 : Number(process.exitCode);
  } catch (error) {
    const code = json ? jsonExitCodeFor(error) : exitCodeFor(error);
    return code;
  }
}

/** `-o json` / `--output json` / `-ojson` / `--output=json` anywhere among the arguments. */
function wantsJson(args: readonly string[]): boolean {
  return args.some(
    (arg, i) =>
      arg === "-ojson" ||
      arg === "--output=json" ||
      ((arg === "-o" || arg === "--output") && args[i + 1] === "json"),
  );
}

/**
 * In `-o json` mode a failure is one JSON document on stderr, `{"error": {code, message, issues?}}`,
 * each manifest issue with its file, line, column and field; the exit code is the text mode's.
 */
function jsonExitCodeFor(error: unknown): number {
  const exitCode = quietly(() => exitCodeFor(error));
  const known = error instanceof TreescaleError && !(error instanceof InternalError);
  const code =
    error instanceof CommanderError
      ? "USAGE"
      : error instanceof ManifestIssuesError
        ? "MANIFEST_INVALID"
        : known
          ? (error as TreescaleError).code
          : "INTERNAL";
  if (exitCode === 0) return 0;
  const message = error instanceof Error ? error.message.replace(/^error: /, "") : String(error);
  const document = {
    error: {
      code,
      message,
      ...(error instanceof ManifestIssuesError ? { issues: error.issues } : {}),
    },
  };
  process.stderr.write(`${JSON.stringify(document)}\n`);
  return exitCode;
}

/** The exit code for an error, without the text it would print. */
function quietly(run: () => number): number {
  const write = process.stderr.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  try {
    return run();
  } finally {
    process.stderr.write = write;
  }
}

function exitCodeFor(error: unknown): number {
  if (error instanceof CommanderError) {
    // Help and version are successful exits; everything else commander reports is a usage error.
    return error.exitCode === 0 ? 0 : 2;
  }
  if (error instanceof ExitError) {
    if (error.message) process.stderr.write(`${error.message}\n`);
    return error.exitCode;
  }
  if (error instanceof UsageError) {
    process.stderr.write(`error: ${error.message}\n`);
    return 2;
  }
  if (error instanceof TreescaleError && !(error instanceof InternalError)) {
    process.stderr.write(`error: ${error.message}\n`);
    return 1;
  }
  process.stderr.write(
    `internal error (a bug in TreeScale, please report it): ${
      error instanceof Error ? (error.stack ?? error.message) : String(error)
    }\n`,
  );
  return 70;
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`internal error: ${String(error)}\n`);
    process.exitCode = 70;
  },
);

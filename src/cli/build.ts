// `treescale build`: from SSH access to a running tree. Every server with an ssh block gets Docker,
// the node image and its files, and a running node, each step only when its check says so; then the
// build waits until the tree has every server, and records it as a context for later verbs.
import type { Command } from "commander";
import { ExitError, errorMessage, UsageError } from "../errors.js";
import type { NodeState } from "../model/wire.js";
import type { BuildReport, Controller, FleetBuilder } from "../reconcile/controller.js";
import {
  currentContextName,
  ensureCredentials,
  readContext,
  readServerRecords,
  type ServerRecord,
  saveContext,
  saveServerRecords,
  useContext,
} from "../state/contexts.js";
import { treescaleHome } from "../state/stack-files.js";
import { ensureTreeTls, hasTreeCa } from "../state/tree-tls.js";
import { naturalCompare } from "../util/natural-order.js";
import { VERSION } from "../version.js";
import { wholeNumber } from "./flag-values.js";
import type { Kinds } from "./kinds.js";
import { loadOrExit } from "./load-manifests.js";

type BuildFlags = {
  file: string[];
  dryRun?: boolean;
  parallel: string;
  image?: string;
  context?: string;
  acceptNewHostKeys?: boolean;
  timeout: string;
  /** --tls / --no-tls; unset: as the context's tree was built. */
  tls?: boolean;
  checkSsh?: boolean;
};

export function registerBuild(program: Command, kinds: Kinds): void {
  program
    .command("build")
    .description(
      "bring every server with an ssh block to a running node of the tree (Docker, image, files, node)",
    )
    .requiredOption(
      "-f, --file <path...>",
      "manifests: the seed's console.toml (and its tree), or native files",
    )
    .option("--dry-run", "say what each server would get, change nothing")
    .option("--parallel <n>", "servers converged at once", "10")
    .option(
      "--image <tag>",
      "the node image to run (default treescale/node:<version>; scripts/build-node-image.sh builds it)",
    )
    .option("--context <name>", "the context to record the tree as (default: the root server's name)")
    .option(
      "--accept-new-host-keys",
      "trust and record a server's host key seen for the first time (never a changed one)",
    )
    .option("--timeout <seconds>", "how long to wait for every server to join the tree", "120")
    .option(
      "--tls",
      "make a CA and a certificate per node (kept with the context), link the nodes and talk to the root over TLS; a tree built with it keeps it",
    )
    .option("--no-tls", "build without TLS even when the context's tree was built with it")
    .option(
      "--check-ssh",
      "log in to every server and check each step over SSH, even one whose node answers in the tree as this build would make it",
    )
    .action(async (flags: BuildFlags) => {
      process.exitCode = await runBuild(flags, kinds);
    });
}

async function runBuild(flags: BuildFlags, kinds: Kinds): Promise<number> {
  const { desired } = await loadOrExit(flags.file);
  const servers = Object.values(desired.servers);
  const reachable = servers.filter((s) => s.ssh);
  if (reachable.length === 0)
    throw new UsageError(
      "no server has an ssh block: build needs SSH access ([ssh.NAME] in console.toml, or ssh = { … })",
    );
  const roots = servers.filter((s) => !servers.some((p) => p.childs.includes(s.name)));
  const root = roots[0];
  if (!root || roots.length > 1)
    throw new UsageError(
      `a tree has one root; these servers have no parent: ${roots.map((r) => r.name).join(", ")}`,
    );
  const home = treescaleHome();
  const contextName = flags.context ?? root.name;
  const shared = await ensureCredentials(home, contextName);
  const tls = flags.tls ?? (await hasTreeCa(home, contextName));
  const treeTls = tls ? await ensureTreeTls(home, contextName, servers) : undefined;
  const credentials = treeTls ? { ...shared, tls: { ca: treeTls.ca, nodes: treeTls.nodes } } : shared;
  const builder = kinds({ nodeImage: flags.image ?? `treescale/node:${VERSION}` }).find(
    (kind): kind is Controller & FleetBuilder => "build" in kind,
  );
  if (!builder) throw new UsageError("this version has no kind that builds servers");
  await builder.preflight?.();
  const say = (line: string) => process.stderr.write(`${line}\n`);
  const parents = new Map(servers.flatMap((s) => s.childs.map((child) => [child, s.name] as const)));
  const observed = flags.checkSsh ? undefined : await observeTree(home, contextName, say);
  const reports = await builder.build(desired, {
    ...(observed ? { observed } : {}),
    dryRun: flags.dryRun === true,
    parallel: wholeNumber("--parallel", 1)(flags.parallel),
    acceptNewHostKeys: flags.acceptNewHostKeys === true,
    credentials,
    onStep: (name, step) => say(`[${name}] ${step.step}: ${step.result} (${step.detail})`),
    onActivity: (name, step, what) => say(`[${name}] ${step}: ${what}…`),
  });
  process.stdout.write(summary(reports, flags.dryRun === true));
  const failed = reports.filter((r) => !r.ok);
  if (flags.dryRun) return failed.length > 0 ? 1 : 0;
  const record = async (notJoined: readonly string[]) =>
    saveServerRecords(
      home,
      contextName,
      serverRecords(await readServerRecords(home, contextName), reports, {
        parents,
        notJoined,
        timeout: flags.timeout,
        builtAt: new Date().toISOString(),
      }),
    );
  if (failed.length === reports.length) {
    await record([]);
    return 1;
  }
  const url = `${treeTls ? "tls" : "tcp"}://${root.ip}:${root.servicePort}`;
  // Servers all seen in the tree as built, through the root just asked: they are joined already.
  const seenAll = reports.every((r) => r.ok && r.steps.every((step) => step.step === "tree"));
  const joined = seenAll
    ? servers.map((s) => s.name)
    : await waitForTree(
        url,
        treeTls?.caFile,
        credentials.adminToken,
        servers.map((s) => [s.name, parents.get(s.name)] as const),
        wholeNumber("--timeout", 1)(flags.timeout) * 1000,
      );
  // Two files of their own, each written atomically (with an fsync): side by side.
  await Promise.all([
    record(servers.map((s) => s.name).filter((name) => !joined.includes(name))),
    saveContext(home, {
      name: contextName,
      node: url,
      token: credentials.adminToken,
      ...(treeTls ? { ca: treeTls.caFile } : {}),
      servers: servers.map((s) => s.name),
      builtAt: new Date().toISOString(),
    }),
  ]);
  if ((await currentContextName(home)) !== contextName) await useContext(home, contextName);
  const missing = servers.map((s) => s.name).filter((name) => !joined.includes(name));
  if (missing.length > 0)
    process.stdout.write(`✗ not in the tree after ${flags.timeout} s: ${missing.join(", ")}\n`);
  process.stdout.write(
    `Context ${contextName} (${url}) is now the current one: treescale get nodes talks to it.\n`,
  );
  if (failed.length > 0 || missing.length > 0)
    throw new ExitError(1, `build failed for ${[...failed.map((f) => f.resource), ...missing].join(", ")}`);
  return 0;
}

function summary(reports: readonly BuildReport[], dryRun: boolean): string {
  const lines = [...reports]
    .sort((a, b) => naturalCompare(a.resource, b.resource))
    .map((report) => {
      if (!report.ok) return `✗ ${report.resource}: ${report.failedStep} failed: ${report.error}`;
      const changed = report.steps
        .filter((s) => s.result !== "unchanged")
        .map((s) => `${s.step} (${s.detail})`);
      if (changed.length === 0) return `✓ ${report.resource}: unchanged`;
      return `${dryRun ? "~" : "✓"} ${report.resource}: ${dryRun ? "would change" : "changed"} ${changed.join(", ")}`;
    });
  const changedCount = reports.filter((r) => r.ok && r.steps.some((s) => s.result !== "unchanged")).length;
  const tail =
    changedCount === 0 && reports.every((r) => r.ok)
      ? "No changes: every server is as built."
      : `${changedCount} server(s) ${dryRun ? "would change" : "changed"}, ${reports.filter((r) => !r.ok).length} failed.`;
  return `${lines.join("\n")}\n${tail}\n`;
}

/**
 * Each built server's record after this build: how it went, and what its steps found there (what a
 * step did not reach keeps the earlier build's value). Servers this build did not try keep theirs.
 */
function serverRecords(
  previous: readonly ServerRecord[],
  reports: readonly BuildReport[],
  build: {
    parents: ReadonlyMap<string, string>;
    notJoined: readonly string[];
    timeout: string;
    builtAt: string;
  },
): ServerRecord[] {
  const records = new Map(previous.map((r) => [r.name, r]));
  for (const report of reports) {
    const before = records.get(report.resource);
    const found = (step: string) => report.steps.find((s) => s.step === step)?.found;
    const parent = build.parents.get(report.resource);
    const docker = found("docker") ?? before?.docker;
    const image = found("image") ?? before?.image;
    const failure = !report.ok
      ? { failedStep: report.failedStep, error: report.error.split("\n")[0]!.slice(0, 200) }
      : build.notJoined.includes(report.resource)
        ? { failedStep: "join", error: `not in the tree under its parent ${build.timeout} s after the build` }
        : undefined;
    records.set(report.resource, {
      name: report.resource,
      ...(parent === undefined ? {} : { parent }),
      builtAt: build.builtAt,
      ok: failure === undefined,
      ...failure,
      ...(docker === undefined ? {} : { docker }),
      ...(image === undefined ? {} : { image }),
    });
  }
  return [...records.values()].sort((a, b) => naturalCompare(a.name, b.name));
}

/**
 * The tree's nodes as the recorded context's root reports them now, or undefined when there is no
 * context yet or it does not answer within a few seconds (then every server is checked over SSH).
 */
async function observeTree(
  home: string,
  contextName: string,
  say: (line: string) => void,
): Promise<NodeState[] | undefined> {
  const context = await readContext(home, contextName);
  if (!context) return undefined;
  const [{ connectClient }, { clientFleetBus }, { gatherStates }] = await Promise.all([
    import("./bus-connection.js"),
    import("../fleet/fleet-bus.js"),
    import("../fleet/fleet-apply.js"),
  ]);
  try {
    const client = await connectClient({
      url: context.node,
      token: context.token,
      caFile: context.ca,
      deadlineMs: OBSERVE_CONNECT_MS,
    });
    try {
      return await gatherStates(clientFleetBus(client), OBSERVE_STATES_MS);
    } finally {
      await client.close();
    }
  } catch (error) {
    say(
      `the tree at ${context.node} does not answer (${errorMessage(error)}): every server is checked over SSH`,
    );
    return undefined;
  }
}

/** How long a build asks the recorded tree before it checks every server over SSH instead. */
const OBSERVE_CONNECT_MS = 3000;
const OBSERVE_STATES_MS = 2000;

/**
 * Polls the root until every server answers in the tree under its declared parent; resolves with
 * the names that did.
 */
async function waitForTree(
  url: string,
  caFile: string | undefined,
  token: string,
  expected: readonly (readonly [name: string, parent: string | undefined])[],
  timeoutMs: number,
): Promise<string[]> {
  const [{ connectClient }, { clientFleetBus }, { gatherStates }] = await Promise.all([
    import("./bus-connection.js"),
    import("../fleet/fleet-bus.js"),
    import("../fleet/fleet-apply.js"),
  ]);
  const deadline = Date.now() + timeoutMs;
  let seen: string[] = [];
  while (Date.now() < deadline) {
    try {
      const client = await connectClient({ url, token, caFile, deadlineMs: 5000 });
      try {
        const states = await gatherStates(
          clientFleetBus(client),
          3000,
          expected.map(([name]) => name),
        );
        const parents = new Map(expected);
        seen = states
          .filter((s) => parents.has(s.node) && s.parent === parents.get(s.node))
          .map((s) => s.node);
        if (seen.length === expected.length) return seen;
      } finally {
        await client.close();
      }
    } catch {
      // The root may not listen yet: its container was just started.
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  return seen;
}

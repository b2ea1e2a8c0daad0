// The server kind: a server with an ssh block whose node is not in the tree is brought up over SSH
// (Docker, the node image, its files, its node) by the apply, as `treescale build` does for all of
// them. It runs where the apply runs (fleet scope); its doors to SSH, the image and the tree's
// credentials are handed in by the composition root.
import { errorMessage } from "../../src/errors.js";
import type { ServerSpec } from "../../src/model/resources.js";
import type {
  BuildOptions,
  BuildReport,
  FleetBuilder,
  FleetController,
  Outcome,
} from "../../src/reconcile/controller.js";
import { runLimited } from "../../src/util/run-limited.js";
import { nodeBundle, type TreeCredentials } from "./bundle.js";
import { convergeServer } from "./converge.js";
import { expectedBuild, seenAsBuilt } from "./seen.js";
import type { ImageSource, RemoteSession } from "./session.js";

export type ServerAction = {
  kind: "server";
  type: "converge";
  resource: string;
  node: string;
  server: ServerSpec;
  /** Every declared server: each node's seed file names them all, so it finds its parent. */
  servers: Readonly<Record<string, ServerSpec>>;
  reason: string;
};

export type ServerControllerOptions = {
  connect(server: ServerSpec, acceptNewHostKey: boolean): Promise<RemoteSession>;
  /** Made when a server is acted on: planning never loads the image's driver. */
  image(): Promise<ImageSource>;
  /** The tree's shared secret and admin token (and, for a TLS tree, these servers' certificates), as its build kept them. */
  credentials(servers: readonly ServerSpec[]): Promise<TreeCredentials>;
  parallel?: number;
};

export type ServerController = FleetController<ServerAction> & Required<FleetBuilder>;

export function serverController(options: ServerControllerOptions): ServerController {
  // One image for the preflight and the build: its ID is looked up once.
  let image: Promise<ImageSource> | undefined;
  const nodeImage = () => {
    image ??= options.image();
    return image;
  };
  return {
    kind: "server",
    scope: "fleet",
    plan(desired, states) {
      const running = new Set(states.map((s) => s.node));
      const actions = Object.values(desired.servers)
        .filter((server) => server.ssh && !running.has(server.name))
        .map(
          (server): ServerAction => ({
            kind: "server",
            type: "converge",
            resource: server.name,
            node: server.name,
            server,
            servers: desired.servers,
            reason: "not in the tree: Docker, node image, files and node over SSH",
          }),
        );
      return { actions, notes: [] };
    },
    async execute(actions, context) {
      if (actions.length === 0) return [];
      let credentials: TreeCredentials;
      try {
        credentials = await options.credentials(Object.values(actions[0]!.servers));
      } catch (error) {
        const failure = errorMessage(error);
        return actions.map((action): Outcome<ServerAction> => {
          const outcome = { action, ok: false as const, error: failure, code: "NO_CONTEXT", ms: 0 };
          context.progress.finished(outcome);
          return outcome;
        });
      }
      const image = await nodeImage();
      return runLimited(actions, options.parallel ?? 10, async (action): Promise<Outcome<ServerAction>> => {
        const began = performance.now();
        context.progress.started(action);
        const report = await convergeServer({
          server: action.resource,
          connect: () => options.connect(action.server, false),
          image,
          bundle: nodeBundle(action.resource, action.servers, credentials),
          dryRun: false,
          signal: context.signal,
          onStep: (server, step) => context.progress.activity(`${server} ${step.step}: ${step.result}`),
          onActivity: (server, step, what) => context.progress.activity(`${server} ${step}: ${what}`),
        });
        const outcome: Outcome<ServerAction> = report.ok
          ? { action, ok: true, ms: performance.now() - began }
          : {
              action,
              ok: false,
              error: `${report.failedStep}: ${report.error}`,
              code: "SERVER_STEP_FAILED",
              ms: performance.now() - began,
            };
        context.progress.finished(outcome);
        return outcome;
      });
    },
    async preflight() {
      // Without the image on this machine no server can get it: said once, before any is touched.
      await (await nodeImage()).id();
    },
    async build(desired, build: BuildOptions): Promise<BuildReport[]> {
      const image = await nodeImage();
      const servers = Object.values(desired.servers).filter((server) => server.ssh);
      const imageId = await image.id();
      const parents = new Map(
        Object.values(desired.servers).flatMap((s) => s.childs.map((child) => [child, s.name] as const)),
      );
      const states = new Map(build.observed?.map((state) => [state.node, state]));
      return runLimited(servers, build.parallel, async (server): Promise<BuildReport> => {
        const bundle = nodeBundle(server.name, desired.servers, build.credentials);
        if (build.observed) {
          const seen = seenAsBuilt(states.get(server.name), {
            parent: parents.get(server.name),
            port: server.servicePort,
            build: expectedBuild(imageId, bundle),
          });
          if (seen.asBuilt) {
            const step = { step: "tree", result: "unchanged" as const, detail: seen.detail };
            build.onStep(server.name, step);
            return { resource: server.name, ok: true, steps: [step] };
          }
          build.onActivity(server.name, "tree", `${seen.why}: checking over SSH`);
        }
        const { server: resource, ...report } = await convergeServer({
          server: server.name,
          connect: () => options.connect(server, build.acceptNewHostKeys),
          image,
          bundle,
          dryRun: build.dryRun,
          onStep: build.onStep,
          onActivity: build.onActivity,
        });
        return { resource, ...report };
      });
    },
    describe: (action) => ({
      effect: "create",
      verb: "server",
      target: action.resource,
      reason: action.reason,
    }),
    actionJson: (action) => ({
      action: "converge",
      server: action.resource,
      ssh: `${action.server.ssh?.user ?? "root"}@${action.server.ssh?.host}:${action.server.ssh?.port}`,
      reason: action.reason,
    }),
  };
}

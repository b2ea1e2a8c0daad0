import fc from "fast-check";
import { stringify as toToml } from "smol-toml";
import { describe, expect, it } from "vitest";
import { stringify as toYaml } from "yaml";
import { toManifestDocument } from "../../../src/manifest/index.js";
import {
  BALANCER_ALGORITHMS,
  type BalancerSpec,
  type ContainerSpec,
  type DesiredState,
  type HealthCheck,
  IPVS_ALGORITHMS,
  NFT_ALGORITHMS,
  type Placement,
  type PortMapping,
  RESTART_POLICIES,
  type ServerSpec,
  type SshAccess,
} from "../../../src/model/resources.js";
import { loadText } from "./support.js";

const name = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?$/);
const text = fc.string({ maxLength: 12 });
const port = fc.integer({ min: 1, max: 65535 });
const optional = <T>(arbitrary: fc.Arbitrary<T>) => fc.option(arbitrary, { nil: undefined });

/** Drops undefined fields, as exactOptionalPropertyTypes wants and the loader produces. */
function defined<T>(value: object): T {
  return Object.fromEntries(Object.entries(value).filter(([, field]) => field !== undefined)) as T;
}

const servers = fc.uniqueArray(name, { maxLength: 4 }).chain((names) =>
  fc.tuple(
    ...names.map((serverName, index) =>
      fc.record({
        name: fc.constant(serverName),
        ip: fc.ipV4(),
        servicePort: port,
        tags: fc.array(text, { maxLength: 3 }),
        groups: fc.array(text, { maxLength: 2 }),
        // Each server after the first hangs under an earlier one, so the tree is valid.
        parent: index === 0 ? fc.constant(undefined) : fc.integer({ min: 0, max: index - 1 }),
        ssh: optional(
          fc
            .record({
              host: fc.domain(),
              port,
              user: optional(fc.stringMatching(/^[a-z]{1,8}$/)),
              keyFile: optional(fc.constant("/keys/id_ed25519")),
              password: optional(text),
              hostKey: optional(fc.constant("ssh-ed25519 AAAAC3Nza")),
            })
            .map((ssh) => defined<SshAccess>(ssh)),
        ),
      }),
    ),
  ),
);

function containerArbitrary(containerName: string, serverNames: string[]): fc.Arbitrary<ContainerSpec> {
  return fc
    .record({
      name: fc.constant(containerName),
      image: fc.string({ minLength: 1, maxLength: 20 }),
      replicas: fc.nat({ max: 20 }),
      mode: fc.constantFrom("replicated" as const, "global" as const),
      command: optional(fc.array(text, { maxLength: 4 })),
      entrypoint: optional(fc.array(text, { maxLength: 2 })),
      env: fc.dictionary(fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,8}$/), text, { maxKeys: 3 }),
      ports: fc.array(
        fc
          .record({
            hostIp: optional(fc.ipV4()),
            hostPort: port,
            containerPort: port,
            protocol: fc.constantFrom("tcp" as const, "udp" as const),
          })
          .map((mapping) => defined<PortMapping>(mapping)),
        { maxLength: 2 },
      ),
      volumes: fc.array(fc.stringMatching(/^\/[a-z]{1,5}:\/[a-z]{1,5}(:ro|:rw)?$/), { maxLength: 2 }),
      labels: fc.dictionary(
        fc.stringMatching(/^[a-z][a-z.]{0,8}$/).filter((key) => !key.startsWith("treescale.")),
        text,
        { maxKeys: 2 },
      ),
      restart: fc.constantFrom(...RESTART_POLICIES),
      memoryBytes: optional(fc.integer({ min: 1, max: 2 ** 40 })),
      cpus: optional(fc.double({ min: 0.01, max: 64, noNaN: true })),
      healthcheck: optional(
        fc
          .record({
            test: fc.array(text, { minLength: 1, maxLength: 3 }),
            intervalMs: optional(fc.nat({ max: 600_000 })),
            timeoutMs: optional(fc.nat({ max: 600_000 })),
            retries: optional(fc.nat({ max: 10 })),
            startPeriodMs: optional(fc.nat({ max: 600_000 })),
          })
          .map((check) => defined<HealthCheck>(check)),
      ),
      placement: fc
        .record({
          nodes: optional(serverNames.length > 0 ? fc.subarray(serverNames) : fc.constant<string[]>([])),
          tags: optional(fc.array(text, { maxLength: 2 })),
        })
        .map((placement) => defined<Placement>(placement)),
      heal: fc.boolean(),
      update: fc.record({
        maxParallel: fc.integer({ min: 1, max: 5 }),
        order: fc.constantFrom("start-first" as const, "stop-first" as const),
        failureAction: fc.constantFrom("pause" as const, "rollback" as const),
      }),
    })
    .map((container) => defined<ContainerSpec>(container));
}

function balancerArbitrary(
  balancerName: string,
  serverNames: string[],
  containerNames: string[],
): fc.Arbitrary<BalancerSpec> {
  const backend = fc.oneof(
    fc.record({ image: fc.string({ minLength: 1, maxLength: 12 }), port, weight: fc.nat({ max: 100 }) }),
    ...(containerNames.length > 0
      ? [fc.record({ container: fc.constantFrom(...containerNames), port, weight: fc.nat({ max: 100 }) })]
      : []),
  );
  // Each backend with only the algorithms it can run, so every generated state is valid.
  const scheduling = fc.oneof(
    fc.record({ backend: fc.constant("auto" as const), alg: fc.constantFrom(...BALANCER_ALGORITHMS) }),
    fc.record({ backend: fc.constant("ipvs" as const), alg: fc.constantFrom(...IPVS_ALGORITHMS) }),
    fc.record({ backend: fc.constant("nftables" as const), alg: fc.constantFrom(...NFT_ALGORITHMS) }),
  );
  return fc
    .record({
      name: fc.constant(balancerName),
      node: serverNames.length > 0 ? optional(fc.constantFrom(...serverNames)) : fc.constant(undefined),
      address: fc.ipV4(),
      port,
      protocol: fc.constantFrom("tcp" as const, "udp" as const),
      scheduling,
      drainTimeoutMs: fc.nat({ max: 600_000 }),
      backends: fc.array(backend, { maxLength: 3 }),
    })
    .map(({ scheduling: { backend, alg }, ...balancer }) =>
      defined<BalancerSpec>({ ...balancer, alg, backend }),
    );
}

const desiredStates: fc.Arbitrary<DesiredState> = fc
  .tuple(servers, fc.uniqueArray(name, { maxLength: 3 }), fc.uniqueArray(name, { maxLength: 2 }))
  .chain(([serverDrafts, containerNames, balancerNames]) => {
    const serverNames = serverDrafts.map((server) => server.name);
    return fc
      .tuple(
        fc.tuple(...containerNames.map((containerName) => containerArbitrary(containerName, serverNames))),
        fc.tuple(
          ...balancerNames.map((balancerName) =>
            balancerArbitrary(balancerName, serverNames, containerNames),
          ),
        ),
      )
      .map(([containers, balancers]) => {
        const serverSpecs: Record<string, ServerSpec> = {};
        for (const { parent, ...server } of serverDrafts)
          serverSpecs[server.name] = defined<ServerSpec>({ ...server, childs: [] });
        for (const server of serverDrafts) {
          if (server.parent !== undefined) serverSpecs[serverNames[server.parent]!]!.childs.push(server.name);
        }
        return {
          servers: serverSpecs,
          containers: Object.fromEntries(containers.map((container) => [container.name, container])),
          balancers: Object.fromEntries(balancers.map((balancer) => [balancer.name, balancer])),
          sources: {},
          extensions: {},
        };
      });
  });

const serializers = {
  "state.toml": (document: object) => toToml(document),
  "state.json": (document: object) => JSON.stringify(document, null, 2),
  "state.yaml": (document: object) => toYaml(document),
};

describe("round trip", () => {
  for (const [file, serialize] of Object.entries(serializers)) {
    it(`any valid desired state written as ${file.split(".")[1]} loads back equal`, async () => {
      await fc.assert(
        fc.asyncProperty(desiredStates, async (desired) => {
          const loaded = await loadText(file, serialize(toManifestDocument(desired)));
          expect(loaded.issues).toEqual([]);
          expect({ ...loaded.desired, sources: {} }).toEqual(desired);
        }),
        { numRuns: 60 },
      );
    });
  }
});

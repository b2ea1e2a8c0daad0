// The native manifest format as zod schemas: they validate, normalize to the model's specs,
// word every issue plainly, and are the source of the published JSON Schema (json-schema.ts).
// zod/mini: the same v4 core as "zod", but its schemas are plain objects without a few dozen
// methods each, so they are cheaper to build on every CLI run.
import { isIP } from "node:net";
import * as z from "zod/mini";
import {
  BALANCER_ALGORITHMS,
  BALANCER_BACKENDS,
  type BalancerSpec,
  type ContainerSpec,
  type HealthCheck,
  IPVS_ALGORITHMS,
  NFT_ALGORITHMS,
  type PortMapping,
  RESTART_POLICIES,
  type ServerSpec,
  type SshAccess,
} from "../model/resources.js";
import { describeValue } from "./issues.js";
import { LIMITS, REPLICAS_PER_CONTAINER_MESSAGE } from "./limits.js";
import { RESOURCE_NAME_MAX, RESOURCE_NAME_PATTERN } from "./parse.js";
import { splitShellWords } from "./shell-words.js";

// Messages a check gives no words for read as the full "zod" package would word them.
if (z.config().localeError === undefined) z.config(z.locales.en());

/** Error parameter: "expected <what>, got <value>", or "missing" when the field is absent. */
function expecting(what: string): { error: (issue: { input?: unknown }) => string } {
  return {
    error: (issue) =>
      issue.input === undefined
        ? `missing; expected ${what}`
        : `expected ${what}, got ${describeValue(issue.input)}`,
  };
}

const NAME_WORDS =
  "a lowercase name of letters, digits and '-' (at most 40, not starting or ending with '-')";

export const resourceNameSchema = z
  .string(expecting(NAME_WORDS))
  .check(
    z.maxLength(RESOURCE_NAME_MAX, expecting(NAME_WORDS)),
    z.regex(RESOURCE_NAME_PATTERN, expecting(NAME_WORDS)),
  );

const nonEmptyText = (what: string) => z.string(expecting(what)).check(z.minLength(1, expecting(what)));
const stringList = (what: string) => z.array(z.string(expecting("a string")), expecting(what));

function wholeNumber(minimum: number, maximum?: number) {
  const what =
    maximum === undefined ? `a whole number ≥ ${minimum}` : `a whole number from ${minimum} to ${maximum}`;
  const number = z.number(expecting(what)).check(z.int(expecting(what)), z.minimum(minimum, expecting(what)));
  return maximum === undefined ? number : number.check(z.maximum(maximum, expecting(what)));
}

const portNumber = wholeNumber(1, 65535);

const ipAddress = z
  .string(expecting("an IP address"))
  .check(z.refine((value) => isIP(value) !== 0, expecting('an IP address such as "10.0.0.5"')));

// --- servers -------------------------------------------------------------------------------------

const sshSchema = z.pipe(
  z.strictObject(
    {
      host: z.optional(nonEmptyText("a host name or address")),
      port: z._default(portNumber, 22),
      user: z.optional(nonEmptyText("a user name")),
      key: z.optional(nonEmptyText("a path to a private key file")),
      password: z.optional(z.string(expecting("a password"))),
      host_key: z.optional(nonEmptyText("the server's public host key")),
    },
    expecting("a table of SSH settings (host, port, user, key, password, host_key)"),
  ),
  z.transform((ssh) => {
    const access: Omit<SshAccess, "host"> & { host?: string } = { port: ssh.port };
    if (ssh.host !== undefined) access.host = ssh.host;
    if (ssh.user !== undefined) access.user = ssh.user;
    if (ssh.key !== undefined) access.keyFile = ssh.key;
    if (ssh.password !== undefined) access.password = ssh.password;
    if (ssh.host_key !== undefined) access.hostKey = ssh.host_key;
    return access;
  }),
);

export type SshInput = z.output<typeof sshSchema>;
export { sshSchema };

/** A server before its name is attached; ssh.host defaults to the server's ip. */
export type ServerBody = Omit<ServerSpec, "name">;

const imageSourceSchema = z.optional(z.enum(["registry", "tree"], expecting('"registry" or "tree"')));

export const serverSchema = z.pipe(
  z.strictObject(
    {
      ip: ipAddress,
      service_port: z._default(portNumber, 8888),
      tags: z._default(stringList("a list of tags"), []),
      groups: z._default(stringList("a list of groups"), []),
      childs: z._default(z.array(resourceNameSchema, expecting("a list of server names")), []),
      ssh: z.optional(sshSchema),
      image_source: imageSourceSchema,
    },
    expecting("a table of server settings"),
  ),
  z.transform((server): ServerBody => {
    const body: ServerBody = {
      ip: server.ip,
      servicePort: server.service_port,
      tags: server.tags,
      groups: server.groups,
      childs: server.childs,
    };
    if (server.ssh !== undefined) body.ssh = { host: server.ip, ...server.ssh };
    if (server.image_source !== undefined) body.imageSource = server.image_source;
    return body;
  }),
);

// --- containers ----------------------------------------------------------------------------------

const commandSchema = z.pipe(
  z.union(
    [z.string(), z.array(z.string(expecting("a string")))],
    expecting("a list of strings or a command line"),
  ),
  z.transform((command, context) => {
    if (Array.isArray(command)) return command;
    const words = splitShellWords(command);
    if (words === undefined) {
      context.issues.push({
        code: "custom",
        input: command,
        message: "unbalanced quotes in the command line",
      });
      return z.NEVER;
    }
    return words;
  }),
);

const envValue = z.union([z.string(), z.number(), z.boolean()], expecting("a string, number or boolean"));
const envSchema = z.pipe(
  z.union(
    [
      z.record(z.string(), envValue),
      z.array(z.string(expecting('"NAME=value"')).check(z.regex(/^[^=]+=/, expecting('"NAME=value"')))),
    ],
    expecting('a table of variables or a list of "NAME=value"'),
  ),
  z.transform((env) => {
    if (!Array.isArray(env))
      return Object.fromEntries(Object.entries(env).map(([key, value]) => [key, String(value)]));
    return Object.fromEntries(
      env.map((entry) => {
        const equals = entry.indexOf("=");
        return [entry.slice(0, equals), entry.slice(equals + 1)];
      }),
    );
  }),
);

const PORT_WORDS = '"[host_ip:]host:container[/tcp|udp]" with ports from 1 to 65535';
const PORT_PATTERN =
  /^(?:(?:\[([0-9A-Fa-f:.]+)\]|(\d{1,3}(?:\.\d{1,3}){3})):)?(\d{1,5}):(\d{1,5})(?:\/(tcp|udp))?$/;
const protocolSchema = z.enum(["tcp", "udp"], expecting('"tcp" or "udp"'));

const portSchema = z.union(
  [
    z.pipe(
      z.string(expecting(PORT_WORDS)).check(z.regex(PORT_PATTERN, expecting(PORT_WORDS))),
      z.transform((text, context): PortMapping => {
        const [, v6, v4, host, container, protocol] = PORT_PATTERN.exec(text)!;
        const mapping: PortMapping = {
          hostPort: Number(host),
          containerPort: Number(container),
          protocol: protocol === "udp" ? "udp" : "tcp",
        };
        const hostIp = v6 ?? v4;
        if (hostIp !== undefined) mapping.hostIp = hostIp;
        const bad = [mapping.hostPort, mapping.containerPort].some((port) => port < 1 || port > 65535);
        if (bad || (hostIp !== undefined && isIP(hostIp) === 0)) {
          context.issues.push({
            code: "custom",
            input: text,
            message: `expected ${PORT_WORDS}, got "${text}"`,
          });
          return z.NEVER;
        }
        return mapping;
      }),
    ),
    z.pipe(
      z.strictObject({
        host: portNumber,
        container: portNumber,
        host_ip: z.optional(ipAddress),
        protocol: z._default(protocolSchema, "tcp"),
      }),
      z.transform((port): PortMapping => {
        const mapping: PortMapping = {
          hostPort: port.host,
          containerPort: port.container,
          protocol: port.protocol,
        };
        if (port.host_ip !== undefined) mapping.hostIp = port.host_ip;
        return mapping;
      }),
    ),
  ],
  expecting(`${PORT_WORDS} or a table {host, container, host_ip, protocol}`),
);

const VOLUME_WORDS = '"source:/target[:ro|rw]"';
const volumeSchema = z
  .string(expecting(VOLUME_WORDS))
  .check(z.regex(/^[^:]+:\/[^:]*(?::(?:ro|rw))?$/, expecting(VOLUME_WORDS)));

const labelKey = z.string().check(
  z.refine((key) => !key.startsWith("treescale."), {
    error: (issue) =>
      `label ${describeValue(issue.input)} is reserved: keys starting "treescale." belong to TreeScale`,
  }),
);

const MEMORY_WORDS = 'a size such as "64m" (b, k, m, g) or a number of bytes';
const MEMORY_PATTERN = /^(\d+(?:\.\d+)?)\s*([bkmg]?)$/i;
const MEMORY_UNITS: Record<string, number> = { "": 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };
const memorySchema = z.pipe(
  z.union(
    [wholeNumber(1), z.string().check(z.regex(MEMORY_PATTERN, expecting(MEMORY_WORDS)))],
    expecting(MEMORY_WORDS),
  ),
  z.transform((memory) => {
    if (typeof memory === "number") return memory;
    const [, amount, unit] = MEMORY_PATTERN.exec(memory)!;
    return Math.floor(Number(amount) * MEMORY_UNITS[unit!.toLowerCase()]!);
  }),
);

const DURATION_WORDS = 'a duration such as "5s" (ms, s, m, h) or a number of milliseconds';
const DURATION_PATTERN = /^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$/;
const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
const durationSchema = z.pipe(
  z.union(
    [
      z.number(expecting(DURATION_WORDS)).check(z.minimum(0, expecting(DURATION_WORDS))),
      z.string().check(z.regex(DURATION_PATTERN, expecting(DURATION_WORDS))),
    ],
    expecting(DURATION_WORDS),
  ),
  z.transform((duration) => {
    if (typeof duration === "number") return duration;
    let total = 0;
    for (const match of duration.matchAll(/(\d+(?:\.\d+)?)(ms|s|m|h)/g)) {
      total += Number(match[1]) * DURATION_UNITS[match[2]!]!;
    }
    return Math.round(total);
  }),
);

const HEALTH_TEST_WORDS = 'a command line or a non-empty list such as ["CMD", "true"]';
const healthcheckSchema = z.pipe(
  z.strictObject(
    {
      test: z.pipe(
        z.union(
          [
            z.string().check(z.minLength(1, expecting(HEALTH_TEST_WORDS))),
            z.array(z.string(expecting("a string"))).check(z.minLength(1, expecting(HEALTH_TEST_WORDS))),
          ],
          expecting(HEALTH_TEST_WORDS),
        ),
        z.transform((test) => (typeof test === "string" ? ["CMD-SHELL", test] : test)),
      ),
      interval: z.optional(durationSchema),
      timeout: z.optional(durationSchema),
      retries: z.optional(wholeNumber(0)),
      start_period: z.optional(durationSchema),
    },
    expecting("a table {test, interval, timeout, retries, start_period}"),
  ),
  z.transform((check): HealthCheck => {
    const health: HealthCheck = { test: check.test };
    if (check.interval !== undefined) health.intervalMs = check.interval;
    if (check.timeout !== undefined) health.timeoutMs = check.timeout;
    if (check.retries !== undefined) health.retries = check.retries;
    if (check.start_period !== undefined) health.startPeriodMs = check.start_period;
    return health;
  }),
);

const placementSchema = z.pipe(
  z.strictObject(
    {
      nodes: z.optional(z.array(resourceNameSchema, expecting("a list of server names"))),
      tags: z.optional(stringList("a list of tags")),
    },
    expecting("a table {nodes, tags}"),
  ),
  z.transform((placement) => {
    const result: ContainerSpec["placement"] = {};
    if (placement.nodes !== undefined) result.nodes = placement.nodes;
    if (placement.tags !== undefined) result.tags = placement.tags;
    return result;
  }),
);

const updateSchema = z.pipe(
  z.strictObject(
    {
      max_parallel: z._default(wholeNumber(1), 1),
      order: z._default(
        z.enum(["stop-first", "start-first"], expecting('"stop-first" or "start-first"')),
        "stop-first",
      ),
      failure_action: z._default(z.enum(["pause", "rollback"], expecting('"pause" or "rollback"')), "pause"),
    },
    expecting("a table {max_parallel, order, failure_action}"),
  ),
  z.transform((update) => ({
    maxParallel: update.max_parallel,
    order: update.order,
    failureAction: update.failure_action,
  })),
);

export type ContainerBody = Omit<ContainerSpec, "name">;

export const containerSchema = z.pipe(
  z.strictObject(
    {
      image: nonEmptyText('an image reference such as "local/busybox:1"'),
      image_source: imageSourceSchema,
      // A refinement, not z.maximum: the limit is the loader's, not the format's, so the published JSON
      // Schema does not carry it.
      replicas: z._default(
        wholeNumber(0).check(
          z.refine((replicas) => !Number.isInteger(replicas) || replicas <= LIMITS.replicasPerContainer, {
            error: (issue) => `${REPLICAS_PER_CONTAINER_MESSAGE}, got ${describeValue(issue.input)}`,
          }),
        ),
        1,
      ),
      mode: z._default(z.enum(["replicated", "global"], expecting('"replicated" or "global"')), "replicated"),
      command: z.optional(commandSchema),
      entrypoint: z.optional(commandSchema),
      env: z.optional(envSchema),
      ports: z.optional(z.array(portSchema, expecting("a list of port mappings"))),
      volumes: z.optional(z.array(volumeSchema, expecting("a list of volumes"))),
      labels: z.optional(
        z.record(labelKey, z.string(expecting("a string")), expecting("a table of string labels")),
      ),
      restart: z._default(
        z.enum(RESTART_POLICIES, expecting(RESTART_POLICIES.map((p) => `"${p}"`).join(", "))),
        "no",
      ),
      memory: z.optional(memorySchema),
      cpus: z.optional(
        z.number(expecting("a number of CPUs > 0")).check(z.gt(0, expecting("a number of CPUs > 0"))),
      ),
      healthcheck: z.optional(healthcheckSchema),
      placement: z.optional(placementSchema),
      heal: z._default(z.boolean(expecting("true or false")), true),
      update: z.optional(updateSchema),
    },
    expecting("a table of container settings"),
  ),
  z.transform((container): ContainerBody => {
    const body: ContainerBody = {
      image: container.image,
      replicas: container.replicas,
      mode: container.mode,
      env: container.env ?? {},
      ports: container.ports ?? [],
      volumes: container.volumes ?? [],
      labels: container.labels ?? {},
      restart: container.restart,
      placement: container.placement ?? {},
      heal: container.heal,
      update: container.update ?? { maxParallel: 1, order: "stop-first", failureAction: "pause" },
    };
    if (container.image_source !== undefined) body.imageSource = container.image_source;
    if (container.command !== undefined) body.command = container.command;
    if (container.entrypoint !== undefined) body.entrypoint = container.entrypoint;
    if (container.memory !== undefined) body.memoryBytes = container.memory;
    if (container.cpus !== undefined) body.cpus = container.cpus;
    if (container.healthcheck !== undefined) body.healthcheck = container.healthcheck;
    return body;
  }),
);

// --- balancers -----------------------------------------------------------------------------------

const ADDRESS_WORDS = '"ip:port" such as "10.0.0.5:443" (IPv6 as "[::1]:443")';
const ADDRESS_PATTERN = /^(?:\[([0-9A-Fa-f:.]+)\]|(\d{1,3}(?:\.\d{1,3}){3})):(\d{1,5})$/;

const backendSchema = z.pipe(
  z
    .strictObject(
      {
        container: z.optional(resourceNameSchema),
        image: z.optional(nonEmptyText("an image reference")),
        port: portNumber,
        weight: z._default(wholeNumber(0), 1),
      },
      expecting("a table {container or image, port, weight}"),
    )
    .check((context) => {
      const backend = context.value;
      if ((backend.container === undefined) === (backend.image === undefined)) {
        context.issues.push({
          code: "custom",
          input: backend,
          message: 'a backend selects containers by exactly one of "container" (a name) or "image"',
        });
      }
    }),
  z.transform((backend) => {
    const result: BalancerSpec["backends"][number] = { port: backend.port, weight: backend.weight };
    if (backend.container !== undefined) result.container = backend.container;
    if (backend.image !== undefined) result.image = backend.image;
    return result;
  }),
);

export type BalancerBody = Omit<BalancerSpec, "name">;

const addressSchema = z.pipe(
  z.string(expecting(ADDRESS_WORDS)).check(z.regex(ADDRESS_PATTERN, expecting(ADDRESS_WORDS))),
  z.transform((text, context) => {
    const [, v6, v4, port] = ADDRESS_PATTERN.exec(text)!;
    const ip = (v6 ?? v4)!;
    if (isIP(ip) === 0 || Number(port) < 1 || Number(port) > 65535) {
      context.issues.push({
        code: "custom",
        input: text,
        message: `expected ${ADDRESS_WORDS}, got "${text}"`,
      });
      return z.NEVER;
    }
    return { ip, port: Number(port) };
  }),
);

export const balancerSchema = z.pipe(
  z
    .strictObject(
      {
        address: addressSchema,
        node: z.optional(resourceNameSchema),
        protocol: z._default(protocolSchema, "tcp"),
        alg: z._default(
          z.enum(BALANCER_ALGORITHMS, expecting(BALANCER_ALGORITHMS.map((a) => `"${a}"`).join(", "))),
          "rr",
        ),
        backend: z._default(
          z.enum(BALANCER_BACKENDS, expecting(BALANCER_BACKENDS.map((b) => `"${b}"`).join(", "))),
          "auto",
        ),
        drain_timeout: z._default(durationSchema, 30_000),
        backends: z._default(z.array(backendSchema, expecting("a list of backends")), []),
      },
      expecting("a table of balancer settings"),
    )
    .check((context) => {
      const { alg, backend } = context.value;
      if (backend === "nftables" && !(NFT_ALGORITHMS as readonly string[]).includes(alg)) {
        context.issues.push({
          code: "custom",
          input: alg,
          path: ["alg"],
          message: `nftables balances with ${NFT_ALGORITHMS.map((a) => `"${a}"`).join(", ")}; "${alg}" needs backend = "ipvs"`,
        });
      }
      // IPVS has no random scheduler: a forced ipvs backend could never program it.
      if (backend === "ipvs" && !(IPVS_ALGORITHMS as readonly string[]).includes(alg)) {
        context.issues.push({
          code: "custom",
          input: alg,
          path: ["alg"],
          message: `IPVS balances with ${IPVS_ALGORITHMS.map((a) => `"${a}"`).join(", ")}; "${alg}" needs backend = "nftables"`,
        });
      }
    }),
  z.transform((balancer): BalancerBody => {
    const body: BalancerBody = {
      address: balancer.address.ip,
      port: balancer.address.port,
      protocol: balancer.protocol,
      alg: balancer.alg,
      backend: balancer.backend,
      drainTimeoutMs: balancer.drain_timeout,
      backends: balancer.backends,
    };
    if (balancer.node !== undefined) body.node = balancer.node;
    return body;
  }),
);

// --- the document --------------------------------------------------------------------------------

export const resourceSchemas = {
  servers: serverSchema,
  containers: containerSchema,
  balancers: balancerSchema,
} as const;

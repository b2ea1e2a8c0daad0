// DesiredState → a native manifest document (snake_case, units as plain numbers) that loads back equal.
import type { BalancerSpec, ContainerSpec, DesiredState, ServerSpec } from "../model/resources.js";

export type ManifestDocument = {
  servers?: Record<string, Record<string, unknown>>;
  containers?: Record<string, Record<string, unknown>>;
  balancers?: Record<string, Record<string, unknown>>;
};

export function toManifestDocument(desired: DesiredState): ManifestDocument {
  const document: ManifestDocument = {};
  const servers = Object.values(desired.servers);
  const containers = Object.values(desired.containers);
  const balancers = Object.values(desired.balancers);
  if (servers.length > 0)
    document.servers = Object.fromEntries(servers.map((s) => [s.name, serverFields(s)]));
  if (containers.length > 0)
    document.containers = Object.fromEntries(containers.map((c) => [c.name, containerFields(c)]));
  if (balancers.length > 0)
    document.balancers = Object.fromEntries(balancers.map((b) => [b.name, balancerFields(b)]));
  return document;
}

function serverFields(server: ServerSpec): Record<string, unknown> {
  const fields: Record<string, unknown> = {
    ip: server.ip,
    service_port: server.servicePort,
    tags: server.tags,
    groups: server.groups,
    childs: server.childs,
  };
  if (server.ssh !== undefined) {
    const { host, port, user, keyFile, password, hostKey } = server.ssh;
    fields.ssh = withoutUndefined({ host, port, user, key: keyFile, password, host_key: hostKey });
  }
  if (server.imageSource !== undefined) fields.image_source = server.imageSource;
  return fields;
}

function containerFields(container: ContainerSpec): Record<string, unknown> {
  const health = container.healthcheck;
  return withoutUndefined({
    image: container.image,
    image_source: container.imageSource,
    replicas: container.replicas,
    mode: container.mode,
    command: container.command,
    entrypoint: container.entrypoint,
    env: container.env,
    ports: container.ports.map((port) =>
      withoutUndefined({
        host: port.hostPort,
        container: port.containerPort,
        host_ip: port.hostIp,
        protocol: port.protocol,
      }),
    ),
    volumes: container.volumes,
    labels: container.labels,
    restart: container.restart,
    memory: container.memoryBytes,
    cpus: container.cpus,
    healthcheck:
      health === undefined
        ? undefined
        : withoutUndefined({
            test: health.test,
            interval: health.intervalMs,
            timeout: health.timeoutMs,
            retries: health.retries,
            start_period: health.startPeriodMs,
          }),
    placement: withoutUndefined({ nodes: container.placement.nodes, tags: container.placement.tags }),
    heal: container.heal,
    update: {
      max_parallel: container.update.maxParallel,
      order: container.update.order,
      failure_action: container.update.failureAction,
    },
  });
}

function balancerFields(balancer: BalancerSpec): Record<string, unknown> {
  const host = balancer.address.includes(":") ? `[${balancer.address}]` : balancer.address;
  return withoutUndefined({
    address: `${host}:${balancer.port}`,
    node: balancer.node,
    protocol: balancer.protocol,
    alg: balancer.alg,
    backend: balancer.backend,
    drain_timeout: balancer.drainTimeoutMs,
    backends: balancer.backends.map((backend) =>
      withoutUndefined({
        container: backend.container,
        image: backend.image,
        port: backend.port,
        weight: backend.weight,
      }),
    ),
  });
}

function withoutUndefined(fields: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(fields).filter(([, value]) => value !== undefined));
}

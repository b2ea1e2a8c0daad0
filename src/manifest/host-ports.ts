// Host ports that two containers, or two replicas of one, would publish on the same node: Docker
// lets only the first one start. Nodes are the declared servers (none declared: the one node the
// manifests are applied to), replicas placed as the container kind places them: by placement, then
// round-robin over the matching servers in name order (controllers/container/placement.ts).
import type { ContainerSpec, DesiredState, PortMapping, ServerSpec } from "../model/resources.js";
import { formatPath, ISSUE_CODES, type ManifestIssue } from "./issues.js";

type Binding = { container: ContainerSpec; index: number; port: PortMapping; replicas: number };

/** Every collision once, at the later container's port mapping, naming the other. */
export function checkHostPorts(desired: DesiredState): ManifestIssue[] {
  const servers = Object.values(desired.servers).sort((a, b) => compare(a.name, b.name));
  const nodes = servers.length > 0 ? servers : [undefined];
  const issues: ManifestIssue[] = [];
  const reported = new Set<string>();
  const containers = Object.values(desired.containers).sort((a, b) => compare(a.name, b.name));
  for (const node of nodes) {
    const bindings: Binding[] = [];
    for (const container of containers) {
      const replicas = replicasOn(container, node, servers);
      if (replicas === 0) continue;
      for (const [index, port] of container.ports.entries()) {
        const binding = { container, index, port, replicas };
        if (replicas > 1) report(issues, reported, desired, binding, binding, node);
        for (const other of bindings) {
          if (overlaps(other.port, port)) report(issues, reported, desired, other, binding, node);
        }
        bindings.push(binding);
      }
    }
  }
  return issues;
}

function report(
  issues: ManifestIssue[],
  reported: Set<string>,
  desired: DesiredState,
  first: Binding,
  second: Binding,
  node: ServerSpec | undefined,
): void {
  const id = `${first.container.name}[${first.index}] ${second.container.name}[${second.index}]`;
  if (reported.has(id)) return;
  reported.add(id);
  const { port } = second;
  const where = node === undefined ? "on the one node (no servers are declared)" : `on node "${node.name}"`;
  const published = `host port ${port.hostIp ?? "0.0.0.0"}:${port.hostPort}/${port.protocol}`;
  const message =
    first === second
      ? `${published}: ${second.replicas} replicas run ${where} and only one can hold it; ` +
        "give the container one replica per node or no host port"
      : `${published} is also published by containers.${first.container.name} ` +
        `(${formatPath(["containers", first.container.name, "ports", first.index])}), ` +
        `and both run ${where}; give one of them another host port or placement`;
  const source = desired.sources[`containers.${second.container.name}`];
  issues.push({
    file: source?.file ?? "",
    line: source?.line ?? 0,
    column: source?.column ?? 0,
    path: formatPath(["containers", second.container.name, "ports", second.index]),
    code: ISSUE_CODES.conflict,
    message,
  });
}

/** How many of the container's replicas the container kind places on `node` (undefined: the only node). */
function replicasOn(
  container: ContainerSpec,
  node: ServerSpec | undefined,
  servers: readonly ServerSpec[],
): number {
  if (node === undefined) return container.mode === "global" ? 1 : container.replicas;
  const eligible = servers.filter((server) => matches(server, container));
  const position = eligible.indexOf(node);
  if (position < 0) return 0;
  if (container.mode === "global") return 1;
  // Replica k (from 1) lands on eligible[(k - 1) % eligible.length].
  return position < container.replicas
    ? Math.floor((container.replicas - 1 - position) / eligible.length) + 1
    : 0;
}

function matches(server: ServerSpec, container: ContainerSpec): boolean {
  const { nodes, tags } = container.placement;
  if (nodes !== undefined && nodes.length > 0 && !nodes.includes(server.name)) return false;
  return tags === undefined || tags.every((tag) => server.tags.includes(tag));
}

/** One protocol and host port on addresses that meet: the same one, or one listening on all of its family's. */
function overlaps(a: PortMapping, b: PortMapping): boolean {
  if (a.protocol !== b.protocol || a.hostPort !== b.hostPort) return false;
  // No host_ip: Docker listens on 0.0.0.0 and :: both.
  if (a.hostIp === undefined || b.hostIp === undefined || a.hostIp === b.hostIp) return true;
  const family = (ip: string) => (ip.includes(":") ? 6 : 4);
  const wildcard = (ip: string) => ip === "0.0.0.0" || ip === "::";
  return family(a.hostIp) === family(b.hostIp) && (wildcard(a.hostIp) || wildcard(b.hostIp));
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

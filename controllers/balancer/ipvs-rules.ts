// IPVS as TreeScale uses it, pure: the `ipvsadm -S -n` text read into services, and a change
// written as one `ipvsadm -R` batch. IPVS has no room for a label, so the services TreeScale made
// are those in its record (kept on disk by the executor); no other service is ever named in a batch.
// A leaving endpoint is drained first (weight 0: no new connections, open ones stay) and deleted once
// it has none left or its drain time is over.
import { byAddress } from "./endpoints.js";
import type { Endpoint, ObservedBalancer, ServiceRules } from "./types.js";

export type IpvsService = {
  protocol: "tcp" | "udp";
  vip: string;
  port: number;
  scheduler: string;
  reals: { address: string; port: number; weight: number; method: string }[];
};

const FLAG = { tcp: "-t", udp: "-u" } as const;

/** `ipvsadm -S -n` → services. Lines it does not know (other options, fwmark services) are skipped. */
export function parseSave(text: string): IpvsService[] {
  const services = new Map<string, IpvsService>();
  for (const line of text.split("\n")) {
    const words = line.trim().split(/\s+/);
    const protocol = words.includes("-t") ? "tcp" : words.includes("-u") ? "udp" : undefined;
    if (!protocol) continue;
    const address = words[words.indexOf(protocol === "tcp" ? "-t" : "-u") + 1] ?? "";
    const [vip, port] = splitAddress(address);
    const key = `${protocol} ${vip}:${port}`;
    if (words[0] === "-A") {
      const scheduler = words[words.indexOf("-s") + 1] ?? "wlc";
      services.set(key, { protocol, vip, port, scheduler, reals: [] });
    } else if (words[0] === "-a") {
      const [address2, port2] = splitAddress(words[words.indexOf("-r") + 1] ?? "");
      const weight = Number(words.includes("-w") ? words[words.indexOf("-w") + 1] : 1);
      const method = words.find((w) => w === "-m" || w === "-g" || w === "-i") ?? "-g";
      services.get(key)?.reals.push({ address: address2, port: port2, weight, method });
    }
  }
  return [...services.values()];
}

/** `ipvsadm -L -n` → active + inactive connections per `protocol vip:port → ip:port`. */
export function parseConnections(text: string): Map<string, number> {
  const counts = new Map<string, number>();
  let service = "";
  for (const line of text.split("\n")) {
    const head = /^(TCP|UDP)\s+(\S+)/.exec(line);
    if (head) {
      service = `${head[1]!.toLowerCase()} ${head[2]}`;
      continue;
    }
    const real = /^\s+->\s+(\d\S*)\s+\S+\s+\d+\s+(\d+)\s+(\d+)/.exec(line);
    if (real && service) counts.set(`${service} → ${real[1]}`, Number(real[2]) + Number(real[3]));
  }
  return counts;
}

function splitAddress(text: string): [string, number] {
  const colon = text.lastIndexOf(":");
  return [text.slice(0, colon).replace(/^\[|\]$/g, ""), Number(text.slice(colon + 1))];
}

/** Key under which a service is recorded as TreeScale's. */
export function serviceKey(rules: Pick<ServiceRules, "protocol" | "vip" | "port">): string {
  return `${rules.protocol} ${rules.vip}:${rules.port}`;
}

/** Our services as observed items: the record names them, the kernel says what they hold. */
export function observeIpvs(
  services: readonly IpvsService[],
  record: Readonly<Record<string, { stack: string; name: string }>>,
  connections: ReadonlyMap<string, number>,
  node: string,
  drainingSince: ReadonlyMap<string, string>,
  now = Date.now(),
): ObservedBalancer[] {
  return services.flatMap((service) => {
    const owner = record[serviceKey(service)];
    if (!owner) return [];
    const key = serviceKey(service);
    const count = (e: { address: string; port: number }) =>
      connections.get(`${key} → ${e.address}:${e.port}`) ?? 0;
    const active = service.reals.filter((r) => r.weight > 0);
    const draining = service.reals
      .filter((r) => r.weight === 0)
      .map((r) => {
        const since = drainingSince.get(`${key} → ${r.address}:${r.port}`) ?? new Date(now).toISOString();
        return {
          address: r.address,
          port: r.port,
          since,
          connections: count(r),
          elapsedMs: now - Date.parse(since),
        };
      });
    return [
      {
        stack: owner.stack,
        resource: owner.name,
        replica: 1 as const,
        node,
        backend: "ipvs" as const,
        rules: {
          vip: service.vip,
          port: service.port,
          protocol: service.protocol,
          alg: service.scheduler,
          endpoints: active
            .map((r): Endpoint => ({ address: r.address, port: r.port, weight: r.weight, target: "" }))
            .sort(byAddress),
        },
        draining,
        connections: Object.fromEntries(service.reals.map((r) => [`${r.address}:${r.port}`, count(r)])),
      },
    ];
  });
}

/**
 * The batch that makes the kernel hold `rules`, from `current` (undefined: a new service). Endpoints
 * that leave are drained (weight 0), and deleted only once `finished` says their drain is over.
 */
export function ensureBatch(
  rules: ServiceRules,
  current: ObservedBalancer | undefined,
  finished: (endpoint: { address: string; port: number }) => boolean,
): string[] {
  const flag = FLAG[rules.protocol];
  const service = `${flag} ${hostPort(rules.vip, rules.port)}`;
  const lines: string[] = [];
  const moved = current !== undefined && serviceKey(current.rules) !== serviceKey(rules);
  if (current && moved) lines.push(...removeBatch(current));
  const existing = current && !moved ? current : undefined;
  lines.push(`${existing ? "-E" : "-A"} ${service} -s ${rules.alg}`);
  const had = new Map(
    [
      ...(existing?.rules.endpoints ?? []),
      ...(existing?.draining.map((d) => ({ ...d, weight: 0 })) ?? []),
    ].map((e) => [`${e.address}:${e.port}`, e.weight]),
  );
  for (const endpoint of rules.endpoints) {
    const real = `-r ${hostPort(endpoint.address, endpoint.port)} -m -w ${endpoint.weight}`;
    const before = had.get(`${endpoint.address}:${endpoint.port}`);
    if (before === undefined) lines.push(`-a ${service} ${real}`);
    else if (before !== endpoint.weight) lines.push(`-e ${service} ${real}`);
  }
  const wanted = new Set(rules.endpoints.map((e) => `${e.address}:${e.port}`));
  for (const [key, weight] of had) {
    if (wanted.has(key)) continue;
    const [address, port] = splitAddress(key);
    if (weight > 0) lines.push(`-e ${service} -r ${key} -m -w 0`);
    else if (finished({ address, port })) lines.push(`-d ${service} -r ${key}`);
  }
  return lines;
}

export function removeBatch(current: ObservedBalancer): string[] {
  return [`-D ${FLAG[current.rules.protocol]} ${hostPort(current.rules.vip, current.rules.port)}`];
}

/** ipvsadm's address form: IPv6 in brackets, so the port splits off. */
function hostPort(address: string, port: number): string {
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

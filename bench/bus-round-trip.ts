// The round trip of `npm run bench -- bus` (publish → responder → reply → publisher, closed loop) for every
// system of one run, interleaved in blocks so that a change of load on this shared machine falls on every
// row alike. Beside TreeScale's 1-node and 2-hop rows stand peers of the same shapes, so that what a hop
// costs on this machine is seen whoever makes it: NATS on one server and on two servers joined by a route
// (NATS's own 2 hops), and socat, a native forwarder doing nothing but read and write, in front of one NATS
// server and of one TreeScale node (the cheapest possible extra hop).
import type { ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { type AddressInfo, createServer, connect as netConnect } from "node:net";
import { connect as natsConnect } from "nats";
import { createClient } from "redis";
import { BusClient } from "../src/bus/client/index.js";

const SOCAT = "/usr/bin/socat";
const NATS_SERVER = "/usr/sbin/nats-server";
/** Rounds each system runs before the others take their turn. */
const BLOCK = 250;
const WARM_UP = 500;
const SETTLE_MS = 15_000;

export interface Percentiles {
  p50: number;
  p99: number;
}

interface Session {
  ping(): void;
  close(): Promise<void>;
}

export interface RoundTripSystem {
  name: string;
  /** Connects a pinger and a responder on subjects of its own; `onReply` is called for every reply. */
  open(onReply: () => void): Promise<Session>;
}

export const ROW = {
  redis: "Redis",
  nats: "NATS",
  natsCluster: "NATS cluster (2 servers, 1 route)",
  natsSocat: "NATS + socat hop",
  tree: "TreeScale (1 node)",
  treeHops: "TreeScale (2 hops)",
  treeSocat: "TreeScale (1 node) + socat hop",
} as const;

export interface HopPeers {
  /** Client URLs of the two clustered NATS servers, once their route carries interest. */
  natsCluster: [string, string];
  /** socat listeners forwarding to the single NATS server and to the TreeScale root; absent without socat. */
  socat?: { nats: number; tree: number };
  /** Why the socat rows are missing, printed under the table. */
  missing: string[];
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Waits until `port` takes connections; `what` names the process in the error when it never does. */
export async function waitPort(port: number, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = netConnect({ host: "127.0.0.1", port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.on("error", () => resolve(false));
    });
    if (ok) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`${what} did not listen on 127.0.0.1:${port} within 5 s`);
}

function portOf(url: string): number {
  return Number(url.split(":").pop());
}

/** Starts the two-server NATS cluster and the socat forwarders; `start` owns the processes it spawns. */
export async function startHopPeers(
  start: (command: string, args: string[]) => ChildProcess,
  natsPort: number,
  treeUrl: string,
): Promise<HopPeers> {
  const [client1, client2, route1, route2] = await Promise.all([
    freePort(),
    freePort(),
    freePort(),
    freePort(),
  ]);
  const clustered = (client: number, route: number) => [
    "-a",
    "127.0.0.1",
    "-p",
    String(client),
    "--cluster",
    `nats://127.0.0.1:${route}`,
    "--cluster_name",
    "treescale-bench",
    // The clients stay on the server they dialled: no other server's address is pushed to them.
    "--no_advertise",
  ];
  start(NATS_SERVER, clustered(client1, route1));
  start(NATS_SERVER, [...clustered(client2, route2), "--routes", `nats://127.0.0.1:${route1}`]);
  const ports: [number, string][] = [
    [client1, "the first clustered nats-server"],
    [client2, "the second clustered nats-server"],
  ];
  const missing: string[] = [];
  let socat: HopPeers["socat"];
  if (existsSync(SOCAT)) {
    // fork: each connection gets a socat process of its own, one more process pass like a node's.
    const forward = (listen: number, target: number) =>
      start(SOCAT, [
        `TCP-LISTEN:${listen},bind=127.0.0.1,reuseaddr,fork,nodelay`,
        `TCP:127.0.0.1:${target},nodelay`,
      ]);
    socat = { nats: await freePort(), tree: await freePort() };
    forward(socat.nats, natsPort);
    forward(socat.tree, portOf(treeUrl));
    ports.push([socat.nats, "socat in front of NATS"], [socat.tree, "socat in front of TreeScale"]);
  } else {
    missing.push(`socat rows not measured: ${SOCAT} is missing (scripts/setup.sh installs Debian's socat)`);
  }
  await Promise.all(ports.map(([port, what]) => waitPort(port, what)));
  return {
    natsCluster: [`127.0.0.1:${client1}`, `127.0.0.1:${client2}`],
    ...(socat ? { socat } : {}),
    missing,
  };
}

let sessions = 0;
/** Subjects of one session: sessions stay open side by side and must not answer each other's pings. */
function subjects(): { ping: string; pong: string } {
  sessions++;
  return { ping: `rtt.ping.${sessions}`, pong: `rtt.pong.${sessions}` };
}

function redisRoundTrip(url: string): RoundTripSystem {
  return {
    name: ROW.redis,
    async open(onReply) {
      const { ping, pong } = subjects();
      const a = createClient({ url });
      await a.connect();
      const aSub = a.duplicate();
      const b = a.duplicate();
      const bSub = a.duplicate();
      await Promise.all([aSub.connect(), b.connect(), bSub.connect()]);
      await bSub.subscribe(ping, () => void b.publish(pong, "x"));
      await aSub.subscribe(pong, onReply);
      return {
        ping: () => void a.publish(ping, "x"),
        close: async () => {
          for (const c of [a, aSub, b, bSub]) c.destroy();
        },
      };
    },
  };
}

/** The pinger on `aServer`, the responder on `bServer`. */
function natsRoundTrip(name: string, aServer: string, bServer: string): RoundTripSystem {
  return {
    name,
    async open(onReply) {
      const { ping, pong } = subjects();
      const a = await natsConnect({ servers: aServer });
      const b = await natsConnect({ servers: bServer });
      b.subscribe(ping, { callback: () => b.publish(pong, new Uint8Array(1)) });
      a.subscribe(pong, { callback: () => onReply() });
      await Promise.all([a.flush(), b.flush()]);
      return {
        ping: () => a.publish(ping, new Uint8Array(1)),
        close: async () => void (await Promise.all([a.close(), b.close()])),
      };
    },
  };
}

function treeRoundTrip(name: string, aUrl: string, bUrl: string): RoundTripSystem {
  return {
    name,
    async open(onReply) {
      const { ping, pong } = subjects();
      const b = await BusClient.connect({ url: bUrl, events: [ping] });
      b.onMessage(() => b.publish(pong, "x"));
      const a = await BusClient.connect({ url: aUrl, events: [pong] });
      a.onMessage(() => onReply());
      return {
        ping: () => a.publish(ping, "x"),
        close: async () => void (await Promise.all([a.close(), b.close()])),
      };
    },
  };
}

export function roundTripSystems(
  urls: { redis: string; nats: string; treeRoot: string; treeLeaf: string },
  peers: HopPeers,
): RoundTripSystem[] {
  const systems = [
    redisRoundTrip(urls.redis),
    natsRoundTrip(ROW.nats, urls.nats, urls.nats),
    natsRoundTrip(ROW.natsCluster, peers.natsCluster[0], peers.natsCluster[1]),
  ];
  if (peers.socat) systems.push(natsRoundTrip(ROW.natsSocat, `127.0.0.1:${peers.socat.nats}`, urls.nats));
  systems.push(
    treeRoundTrip(ROW.tree, urls.treeRoot, urls.treeRoot),
    treeRoundTrip(ROW.treeHops, urls.treeRoot, urls.treeLeaf),
  );
  if (peers.socat) systems.push(treeRoundTrip(ROW.treeSocat, `127.0.0.1:${peers.socat.tree}`, urls.treeRoot));
  return systems;
}

/** One system's pinger: one ping in flight at a time; a reply with none in flight (a late probe's) is dropped. */
class Pinger {
  readonly samples: number[] = [];
  private waiting: (() => void) | undefined;
  private session: Session | undefined;

  constructor(readonly system: RoundTripSystem) {}

  async open(): Promise<void> {
    this.session = await this.system.open(() => {
      const waiting = this.waiting;
      this.waiting = undefined;
      waiting?.();
    });
  }

  ping(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.waiting = resolve;
      this.session?.ping();
    });
  }

  /**
   * Pings until a reply comes: the responder's interest has then reached the pinger's server and the
   * reply's the other way (a route, a parent link), however long their propagation takes.
   */
  async settle(): Promise<void> {
    let replied = false;
    this.waiting = () => {
      replied = true;
    };
    const deadline = Date.now() + SETTLE_MS;
    while (!replied) {
      if (Date.now() > deadline) {
        throw new Error(
          `${this.system.name}: no reply to a ping within ${SETTLE_MS} ms (interest never propagated)`,
        );
      }
      this.session?.ping();
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    // Replies to the probes sent before the first came back arrive now, with no ping in flight.
    await new Promise((resolve) => setTimeout(resolve, 100));
  }

  async timed(): Promise<void> {
    const t = process.hrtime.bigint();
    await this.ping();
    this.samples.push(Number(process.hrtime.bigint() - t) / 1000);
  }

  close(): Promise<void> {
    return this.session?.close() ?? Promise.resolve();
  }
}

/** `rounds` timed round trips per system, taken in blocks of BLOCK in turn after a warm-up of each. */
export async function measureRoundTrips(
  systems: RoundTripSystem[],
  rounds: number,
): Promise<Map<string, Percentiles>> {
  const pingers = systems.map((system) => new Pinger(system));
  try {
    for (const pinger of pingers) {
      await pinger.open();
      await pinger.settle();
      for (let i = 0; i < WARM_UP; i++) await pinger.ping();
    }
    for (let done = 0; done < rounds; done += BLOCK) {
      for (const pinger of pingers) {
        for (let i = 0; i < Math.min(BLOCK, rounds - done); i++) await pinger.timed();
      }
    }
  } finally {
    await Promise.all(pingers.map((pinger) => pinger.close()));
  }
  const result = new Map<string, Percentiles>();
  for (const { system, samples } of pingers) {
    samples.sort((a, b) => a - b);
    result.set(system.name, { p50: at(samples, 0.5), p99: at(samples, 0.99) });
  }
  return result;
}

function at(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? Number.NaN;
}

/** What one more hop adds to a system's p50: [label, row with the hop, row without it]. */
export const HOP_COSTS: [string, string, string][] = [
  ["a second TreeScale node", ROW.treeHops, ROW.tree],
  ["a NATS route to a second server", ROW.natsCluster, ROW.nats],
  ["socat in front of TreeScale", ROW.treeSocat, ROW.tree],
  ["socat in front of NATS", ROW.natsSocat, ROW.nats],
];

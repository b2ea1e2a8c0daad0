// Test helpers for the real Docker engine: build the busybox image, and clean up only the
// containers a test labelled for itself.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import Docker from "dockerode";

const run = promisify(execFile);
const script = fileURLToPath(new URL("../../scripts/make-busybox-image.sh", import.meta.url));

export const TEST_IMAGE = "local/busybox:1";

/** A manifest's `command` (TOML) for a replica that says hello once, then ticks every half second until told to stop. */
export const TICKER_COMMAND = `["sh", "-c", "echo hello from $HOSTNAME; i=0; trap 'exit 0' TERM; while true; do i=$((i+1)); echo tick $i; sleep 0.5; done"]`;

export async function ensureTestImage(tag = TEST_IMAGE): Promise<void> {
  await run(script, [tag]);
}

/** Every container carrying the given node label (TreeScale's or a test's own), removed by force. */
export async function removeContainersOfNode(node: string): Promise<void> {
  const docker = new Docker();
  const list = await docker.listContainers({ all: true, filters: { label: [`treescale.node=${node}`] } });
  await Promise.all(
    list.map((c) =>
      docker
        .getContainer(c.Id)
        .remove({ force: true })
        .catch(() => undefined),
    ),
  );
}

/** A unique node name per test file, so parallel files never share containers. */
export function uniqueNodeName(prefix: string): string {
  return `${prefix}${process.pid.toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
}

export type EngineEventAt = { id: string; action: string; name: string; timeMs: number };

/**
 * The engine's own record of a node's container events between two wall-clock times (ms), oldest
 * first, with the engine's timestamps: how tests time what the product controls without counting
 * their own Docker API calls. Fractional seconds, so a previous test's events just before do not count.
 */
export async function engineEvents(node: string, sinceMs: number, untilMs: number): Promise<EngineEventAt[]> {
  const stream = (await new Docker().getEvents({
    since: sinceMs / 1000,
    until: untilMs / 1000,
    filters: { type: ["container"], label: [`treescale.node=${node}`] },
  })) as NodeJS.ReadableStream;
  let text = "";
  for await (const chunk of stream) text += chunk.toString();
  type Raw = {
    id: string;
    Action: string;
    timeNano: number;
    Actor?: { Attributes?: Record<string, string> };
  };
  return text
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as Raw)
    .map((event) => ({
      id: event.id,
      action: event.Action,
      name: event.Actor?.Attributes?.name ?? "",
      timeMs: event.timeNano / 1e6,
    }))
    .sort((a, b) => a.timeMs - b.timeMs);
}

/**
 * How long the engine ran without the replica: from the removed container's `destroy` to the
 * replacement's `start`, both as the engine timed them.
 */
export function replacementGapMs(events: readonly EngineEventAt[], removedId: string): number {
  const destroyed = events.find((e) => e.id === removedId && e.action === "destroy");
  if (!destroyed) throw new Error(`no destroy event for ${removedId}: ${JSON.stringify(events)}`);
  const started = events.find(
    (e) => e.id !== removedId && e.action === "start" && e.timeMs >= destroyed.timeMs,
  );
  if (!started) throw new Error(`no start of a replacement after ${removedId}: ${JSON.stringify(events)}`);
  return started.timeMs - destroyed.timeMs;
}

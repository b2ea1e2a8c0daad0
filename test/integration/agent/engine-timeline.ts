// The engine's own record of what happened to a node's containers, with the engine's timestamps:
// how tests time what the product controls (engine event → agent → engine action) without the
// test's own Docker API calls in the measurement.
import Docker from "dockerode";

export type EngineEventAt = { id: string; action: string; name: string; timeMs: number };

/** Container events for one node label between two wall-clock times (ms), oldest first. */
export async function engineTimeline(
  node: string,
  sinceMs: number,
  untilMs: number,
): Promise<EngineEventAt[]> {
  const stream = (await new Docker().getEvents({
    since: Math.floor(sinceMs / 1000),
    until: Math.ceil(untilMs / 1000) + 1,
    filters: { type: ["container"], label: [`treescale.node=${node}`] },
  })) as NodeJS.ReadableStream;
  let text = "";
  for await (const chunk of stream) text += chunk.toString();
  return text
    .split("\n")
    .filter(Boolean)
    .map(
      (line) =>
        JSON.parse(line) as {
          id: string;
          Action: string;
          timeNano: number;
          Actor?: { Attributes?: Record<string, string> };
        },
    )
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

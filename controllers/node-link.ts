// The node-link controller: makes the live tree match the servers' `childs`. A child is told its
// new parent over the bus, then watched until it reports the new link (or the deadline passes).
import { AGENT_EVENTS } from "../src/agent/reports.js";
import type { NodeSummary } from "../src/agent/status.js";
import type { FleetBus } from "../src/fleet/fleet-bus.js";
import type { LinkChange } from "../src/fleet/fleet-plan.js";
import type { DesiredState } from "../src/model/resources.js";

export const REPARENT_EVENT = "node.reparent";

/** What a child is sent: the name and address of the parent it should dial. */
export type ReparentRequest = { parent: string; host: string; port: number };

export type LinkOutcome = { child: string; to: string; ok: boolean; message: string };

export async function moveLinks(options: {
  bus: FleetBus;
  desired: DesiredState;
  changes: readonly LinkChange[];
  timeoutMs: number;
  onProgress(line: string): void;
}): Promise<LinkOutcome[]> {
  const moves = options.changes.filter((c): c is Extract<LinkChange, { type: "move" }> => c.type === "move");
  return Promise.all(
    moves.map(async (move) => {
      const parent = options.desired.servers[move.to];
      if (!parent)
        return { child: move.child, to: move.to, ok: false, message: `server ${move.to} is not declared` };
      const request: ReparentRequest = { parent: parent.name, host: parent.ip, port: parent.servicePort };
      options.onProgress(`[${move.child}] moving under ${move.to} (${parent.ip}:${parent.servicePort})`);
      const [reply] = await options.bus.requestMany(
        REPARENT_EVENT,
        { node: move.child },
        JSON.stringify(request),
        5000,
        1,
      );
      if (!reply)
        return { child: move.child, to: move.to, ok: false, message: `${move.child} did not answer` };
      const deadline = Date.now() + options.timeoutMs;
      while (Date.now() < deadline) {
        const [summary] = await options.bus.requestMany(
          AGENT_EVENTS.summary,
          { node: move.child },
          undefined,
          2000,
          1,
        );
        if (summary?.json<NodeSummary>().parent === move.to) {
          return { child: move.child, to: move.to, ok: true, message: `linked under ${move.to}` };
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      return {
        child: move.child,
        to: move.to,
        ok: false,
        message: `no link to ${move.to} within ${options.timeoutMs} ms`,
      };
    }),
  );
}

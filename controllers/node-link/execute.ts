// Moves a child under its new parent: told over the bus, then watched until it reports the new
// link, within the apply's one deadline.
import {
  AGENT_EVENTS,
  type NodeSummary,
  REPARENT_EVENT,
  type ReparentRequest,
} from "../../src/model/wire.js";
import type { FleetExecuteContext, Outcome } from "../../src/reconcile/controller.js";
import type { LinkMove } from "./plan.js";

const ASK_MS = 2000;
const POLL_MS = 100;

export function moveLinks(
  actions: readonly LinkMove[],
  context: FleetExecuteContext<LinkMove>,
): Promise<Outcome<LinkMove>[]> {
  return Promise.all(actions.map((move) => moveOne(move, context)));
}

async function moveOne(move: LinkMove, context: FleetExecuteContext<LinkMove>): Promise<Outcome<LinkMove>> {
  const began = performance.now();
  const fail = (error: string, code: string): Outcome<LinkMove> => {
    const outcome = { action: move, ok: false as const, error, code, ms: performance.now() - began };
    context.progress.finished(outcome);
    return outcome;
  };
  context.progress.started(move);
  const request: ReparentRequest = { parent: move.to, host: move.host, port: move.port };
  const left = () => context.deadline - Date.now();
  const reply = await context.bus.request(
    REPARENT_EVENT,
    move.node,
    JSON.stringify(request),
    Math.max(1, Math.min(ASK_MS * 2, left())),
  );
  if (reply === undefined) return fail(`${move.node} did not answer`, "NODE_UNREACHABLE");
  const answer = reply as { accepted?: boolean; reason?: string };
  if (answer.accepted !== true)
    return fail(`${move.node} refused: ${answer.reason ?? "no reason given"}`, "REPARENT_REFUSED");
  while (left() > 0 && !context.signal.aborted) {
    const summary = (await context.bus.request(
      AGENT_EVENTS.summary,
      move.node,
      undefined,
      Math.max(1, Math.min(ASK_MS, left())),
    )) as NodeSummary | undefined;
    if (summary?.parent === move.to) {
      const outcome = { action: move, ok: true as const, ms: performance.now() - began };
      context.progress.finished(outcome);
      return outcome;
    }
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
  return fail(`no link to ${move.to} before the apply's deadline`, "LINK_TIMEOUT");
}

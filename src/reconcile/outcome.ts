// One action carried out the way every kind reports it: started, then an outcome with its time, a
// failure's message, and the code and disposition the kind judges it by.
import { errorMessage } from "../errors.js";
import type { Disposition, Outcome, PlannedAction, ProgressSink } from "./controller.js";

export async function runAction<A extends PlannedAction>(
  action: A,
  progress: ProgressSink<A>,
  perform: () => Promise<void>,
  judge: (error: unknown) => { code?: string; disposition?: Disposition },
  signal?: AbortSignal,
): Promise<Outcome<A>> {
  // A node that stops (an interrupted apply) begins nothing more: unreported, so it shows as not started.
  if (signal?.aborted)
    return { action, ok: false, error: "not started: the node is stopping", code: "NOT_STARTED", ms: 0 };
  const began = performance.now();
  progress.started(action);
  let outcome: Outcome<A>;
  try {
    await perform();
    outcome = { action, ok: true, ms: performance.now() - began };
  } catch (error) {
    outcome = {
      action,
      ok: false,
      error: errorMessage(error),
      ...judge(error),
      ms: performance.now() - began,
    };
  }
  progress.finished(outcome);
  return outcome;
}

// One action carried out the way every kind reports it: started, then an outcome with its time, a
// failure's message, and the code and disposition the kind judges it by.
import { errorMessage } from "../errors.js";
import type { Disposition, Outcome, PlannedAction, ProgressSink } from "./controller.js";

export async function runAction<A extends PlannedAction>(
  action: A,
  progress: ProgressSink<A>,
  perform: () => Promise<void>,
  judge: (error: unknown) => { code?: string; disposition?: Disposition },
): Promise<Outcome<A>> {
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

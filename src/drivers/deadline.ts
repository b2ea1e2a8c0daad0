// Deadlines for calls to an engine. Each call runs under one AbortSignal that fires when its time is up
// or when the caller aborts, so the socket is torn down either way, and the call rejects with the error
// that says which, at once, even where a client library notices its signal late.

export type EngineTimeouts = {
  /** Every request that is neither a stop nor a pull; also the connect of the event stream. */
  requestMs: number;
  /** How long past a container's own stop grace period a stop may take before the engine counts as hung. */
  stopMarginMs: number;
  /** A pull's deadline is between progress events, not in total: a large image may take minutes. */
  pullIdleMs: number;
};

export const DEFAULT_ENGINE_TIMEOUTS: EngineTimeouts = {
  requestMs: 30_000,
  stopMarginMs: 10_000,
  pullIdleMs: 60_000,
};

export type Deadline = {
  timeoutMs: number;
  /** The caller's signal, if any. */
  signal?: AbortSignal | undefined;
  /** The error for a deadline that passed. */
  timedOut: () => Error;
  /** The error for a caller that aborted, from the signal's reason. */
  aborted: (reason: unknown) => Error;
};

/**
 * Runs `call` under the deadline. `call` gets the signal to hand to its client and `progressed`,
 * which restarts the timer: a deadline between events rather than in total.
 */
export async function withDeadline<T>(
  deadline: Deadline,
  call: (signal: AbortSignal, progressed: () => void) => Promise<T>,
): Promise<T> {
  const { signal: callerSignal } = deadline;
  if (callerSignal?.aborted) throw deadline.aborted(callerSignal.reason);
  const controller = new AbortController();
  const stopped = new Promise<never>((_, reject) => {
    controller.signal.addEventListener("abort", () => reject(controller.signal.reason), { once: true });
  });
  const timer = setTimeout(() => controller.abort(deadline.timedOut()), deadline.timeoutMs);
  const onAbort = () => controller.abort(deadline.aborted(callerSignal?.reason));
  callerSignal?.addEventListener("abort", onAbort, { once: true });
  try {
    return await Promise.race([call(controller.signal, () => timer.refresh()), stopped]);
  } catch (error) {
    // The client's own AbortError says less than the reason this deadline recorded.
    throw controller.signal.aborted ? controller.signal.reason : error;
  } finally {
    clearTimeout(timer);
    callerSignal?.removeEventListener("abort", onAbort);
  }
}

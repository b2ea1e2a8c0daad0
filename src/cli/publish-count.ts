// What `treescale publish` says about the subscribers an event reached (as Redis's PUBLISH answers with an
// integer), and the wait of --wait-for-subscriber: probes until one is reachable, then publishes.
import type { DeliveryCount } from "../bus/client/index.js";
import { TreescaleError } from "../errors.js";

/** The count as stdout shows it, and a note for stderr when some node's report did not come in time. */
export function formatDeliveryCount(
  count: DeliveryCount,
  output: "json" | "text",
  reportDeadlineMs: number,
): { stdout: string; note: string | undefined } {
  const note = count.exact
    ? undefined
    : `note: ${plural(count.unreported.length, "node")} the event was sent to did not report within ` +
      `${reportDeadlineMs / 1000} s (${count.unreported.join(", ")}): ${count.subscribers} is a lower bound`;
  if (output === "text") return { stdout: `${count.subscribers}`, note };
  const document = {
    event: count.event,
    subscribers: count.subscribers,
    exact: count.exact,
    nodes: count.reports,
    unreported: count.unreported,
  };
  return { stdout: JSON.stringify(document), note };
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

export interface SubscriberWait {
  /** Counts who would receive the event now, delivering nothing; `timeoutMs` bounds the nodes' reports. */
  probe(timeoutMs: number): Promise<DeliveryCount>;
  /** Publishes the event and counts who received it. */
  publish(timeoutMs: number): Promise<DeliveryCount>;
  /** Called once, when the first probe finds nobody. */
  waiting(): void;
  now(): number;
  sleep(ms: number): Promise<void>;
}

/** Time between two probes while nobody is reachable. */
export const PROBE_INTERVAL_MS = 250;

/**
 * Publishes once a subscriber is reachable, within `waitMs`. A publish that, by every node's report,
 * reached nobody (the subscriber left in between) delivered nothing: the wait goes on. Fails, having
 * published nothing, when the deadline passes first.
 */
export async function publishWhenSubscribed(
  event: string,
  wait: SubscriberWait,
  waitMs: number,
  reportDeadlineMs: number,
): Promise<DeliveryCount> {
  const deadline = wait.now() + waitMs;
  let told = false;
  for (;;) {
    // Each probe gets the whole report deadline, even near the end of the wait: a node cut short would
    // be named as one that did not report.
    const probe = await wait.probe(reportDeadlineMs);
    if (probe.subscribers > 0) {
      const published = await wait.publish(reportDeadlineMs);
      if (published.subscribers > 0) return published;
      if (!published.exact) {
        throw new TreescaleError(
          "NO_SUBSCRIBER",
          `published "${event}", but no node reported a subscriber receiving it: ` +
            `${published.unreported.join(", ")} did not report within ${reportDeadlineMs / 1000} s`,
        );
      }
    }
    if (deadline - wait.now() <= 0) {
      const silent = probe.exact ? "" : ` (${probe.unreported.join(", ")} did not report)`;
      throw new TreescaleError(
        "NO_SUBSCRIBER",
        `no subscriber of "${event}" was reachable within ${waitMs / 1000} s (--wait-timeout)${silent}; ` +
          "nothing was published",
      );
    }
    if (!told) {
      told = true;
      wait.waiting();
    }
    await wait.sleep(Math.min(PROBE_INTERVAL_MS, Math.max(0, deadline - wait.now())));
  }
}

// What a counted PUBLISH reached, from the reports of the nodes it went through (docs/PROTOCOL.md §3): each
// node says how many of its subscribers got the event and which nodes it forwarded it to, so the publisher
// knows whose reports are still missing and whether its sum is the whole tree's.
import type { DeliveryReport } from "./protocol/index.js";

export interface DeliveryCount {
  event: string;
  /** Subscribers that received the event (for a probe: would have), summed over the reports that came. */
  subscribers: number;
  /** Every node the event reached reported in time: `subscribers` is the count for the whole tree. */
  exact: boolean;
  reports: DeliveryReport[];
  /** Nodes the event was sent to whose report did not come in time. */
  unreported: string[];
}

/** Sums the reports; `origin` is the publisher's node, the first to report. */
export function countDeliveries(
  event: string,
  origin: string,
  reports: readonly DeliveryReport[],
): DeliveryCount {
  const expected = new Set([origin]);
  const reported = new Set<string>();
  let subscribers = 0;
  for (const report of reports) {
    reported.add(report.node);
    subscribers += report.subscribers;
    for (const node of report.forwardedTo) expected.add(node);
  }
  const unreported = [...expected].filter((node) => !reported.has(node));
  return { event, subscribers, exact: unreported.length === 0, reports: [...reports], unreported };
}

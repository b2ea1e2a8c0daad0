// Counters of one node's bus, rendered as Prometheus text by the HTTP endpoint.
export class BusMetrics {
  framesIn = 0;
  bytesIn = 0;
  framesOut = 0;
  bytesOut = 0;
  /** Routed frames that matched no receiver anywhere. */
  unrouted = 0;
  /** Frames refused because the receiver's output buffer was full. */
  dropped = 0;
  slowConsumers = 0;
  /** Failed authentications by kind (a fixed set of labels, see AuthFailureKind). */
  readonly authFailuresByKind = new Map<string, number>();
  /**
   * Sends and subscriptions refused for a missing permission, by permission. An event's permission is
   * counted by its kind (publish, subscribe) without the event: clients name any event they like.
   */
  readonly refusalsByPermission = new Map<string, number>();
  /** Handshakes refused without a check: their address failed authentication too often. */
  authThrottled = 0;
  protocolErrors = 0;
  /** Connections closed for not finishing their handshake in time. */
  handshakeTimeouts = 0;
  /** Connections refused at once: too many others had not finished their handshake. */
  connectionsRefused = 0;
  /** REPLY frames dropped: from a connection the request was never delivered to, or expired. */
  repliesRefused = 0;

  /** Every failed authentication, whatever its kind. */
  get authFailures(): number {
    let total = 0;
    for (const count of this.authFailuresByKind.values()) total += count;
    return total;
  }

  authFailed(kind: string): void {
    this.authFailuresByKind.set(kind, (this.authFailuresByKind.get(kind) ?? 0) + 1);
  }

  refused(permissions: readonly string[]): void {
    for (const permission of permissions) {
      const colon = permission.indexOf(":");
      const kind = permission.slice(0, colon);
      const label = kind === "publish" || kind === "subscribe" ? kind : permission;
      this.refusalsByPermission.set(label, (this.refusalsByPermission.get(label) ?? 0) + 1);
    }
  }
}

export interface BusGauges {
  clients: number;
  /** Connections (clients or nodes) that have not finished their handshake. */
  pending: number;
  childLinks: number;
  parentLinks: number;
  subscriptions: number;
  /** Distinct events subscribed to here, by clients and in-process code. */
  subscribedEvents: number;
  /** Requests routed here whose replies are still accepted (bounded in time and count). */
  replyRoutes: number;
  interestKeys: number;
  pendingOutputBytes: number;
}

/** What process.memoryUsage() reports, in bytes; injectable so a test can pass literals. */
export type MemoryUsage = Pick<NodeJS.MemoryUsage, "heapUsed" | "heapTotal" | "rss" | "external">;

/** Label values are written as Prometheus text wants them: quotes, backslashes and newlines escaped away. */
function labelValue(value: string): string {
  return value.replace(/["\\\n]/g, "_");
}

/** A counter family with one sample per label value; none when nothing was counted yet. */
function labelled(
  name: string,
  help: string,
  node: string,
  label: string,
  counts: ReadonlyMap<string, number>,
): string {
  const samples = [...counts]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([value, count]) => `${name}{node="${node}",${label}="${labelValue(value)}"} ${count}\n`);
  return `# HELP ${name} ${help}\n# TYPE ${name} counter\n${samples.join("")}`;
}

function line(name: string, help: string, type: "counter" | "gauge", value: number, labels = ""): string {
  return `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${name}${labels} ${value}\n`;
}

/**
 * The process's memory: RSS alone cannot tell a leak from the heap V8 keeps, so the heap is here too
 * (the soak benchmark reads nodejs_heap_used_bytes for its slope).
 */
function processGauges(memory: MemoryUsage, labels: string): string[] {
  return [
    line("nodejs_heap_used_bytes", "V8 heap in use", "gauge", memory.heapUsed, labels),
    line("nodejs_heap_total_bytes", "V8 heap reserved", "gauge", memory.heapTotal, labels),
    line("process_resident_memory_bytes", "Resident set size", "gauge", memory.rss, labels),
    line(
      "nodejs_external_memory_bytes",
      "Memory of C++ objects bound to JavaScript objects (buffers)",
      "gauge",
      memory.external,
      labels,
    ),
  ];
}

export function renderMetrics(
  node: string,
  metrics: BusMetrics,
  gauges: BusGauges,
  memory: MemoryUsage = process.memoryUsage(),
): string {
  const l = `{node="${labelValue(node)}"}`;
  return [
    ...processGauges(memory, l),
    line("treescale_bus_connections", "Open client connections", "gauge", gauges.clients, l),
    line(
      "treescale_bus_pending_connections",
      "Connections that have not finished their handshake",
      "gauge",
      gauges.pending,
      l,
    ),
    line("treescale_bus_child_links", "Connected child nodes", "gauge", gauges.childLinks, l),
    line("treescale_bus_parent_links", "1 when linked to the parent", "gauge", gauges.parentLinks, l),
    line(
      "treescale_bus_subscriptions",
      "Event subscriptions of local clients",
      "gauge",
      gauges.subscriptions,
      l,
    ),
    line(
      "treescale_bus_subscribed_events",
      "Distinct events subscribed to on this node",
      "gauge",
      gauges.subscribedEvents,
      l,
    ),
    line(
      "treescale_bus_reply_routes",
      "Routed requests whose replies are still accepted",
      "gauge",
      gauges.replyRoutes,
      l,
    ),
    line("treescale_bus_interest_keys", "Distinct interest keys known", "gauge", gauges.interestKeys, l),
    line(
      "treescale_bus_pending_output_bytes",
      "Bytes queued for output",
      "gauge",
      gauges.pendingOutputBytes,
      l,
    ),
    line("treescale_bus_frames_in_total", "Frames received", "counter", metrics.framesIn, l),
    line("treescale_bus_bytes_in_total", "Bytes received", "counter", metrics.bytesIn, l),
    line("treescale_bus_frames_out_total", "Frames sent", "counter", metrics.framesOut, l),
    line("treescale_bus_bytes_out_total", "Bytes sent", "counter", metrics.bytesOut, l),
    line("treescale_bus_unrouted_total", "Messages that matched no receiver", "counter", metrics.unrouted, l),
    line(
      "treescale_bus_dropped_total",
      "Frames dropped for a full output buffer",
      "counter",
      metrics.dropped,
      l,
    ),
    line(
      "treescale_bus_slow_consumers_total",
      "Connections closed as slow consumers",
      "counter",
      metrics.slowConsumers,
      l,
    ),
    labelled(
      "treescale_bus_auth_failures_total",
      "Rejected handshakes, by kind: no_token, unknown_token, hook_refused, hook_unavailable, hook_bad_answer, node_refused, node_proof",
      labelValue(node),
      "reason",
      metrics.authFailuresByKind,
    ),
    labelled(
      "treescale_bus_forbidden_total",
      "Publishes, requests and subscriptions refused for a missing permission, by permission (publish and subscribe without the event)",
      labelValue(node),
      "permission",
      metrics.refusalsByPermission,
    ),
    line(
      "treescale_bus_auth_throttled_total",
      "Handshakes refused unchecked after too many failures from their address",
      "counter",
      metrics.authThrottled,
      l,
    ),
    line(
      "treescale_bus_handshake_timeouts_total",
      "Connections closed for not finishing their handshake in time",
      "counter",
      metrics.handshakeTimeouts,
      l,
    ),
    line(
      "treescale_bus_connections_refused_total",
      "Connections refused over the limit of unfinished handshakes",
      "counter",
      metrics.connectionsRefused,
      l,
    ),
    line(
      "treescale_bus_replies_refused_total",
      "Replies dropped: not from a connection their request was delivered to",
      "counter",
      metrics.repliesRefused,
      l,
    ),
    line(
      "treescale_bus_protocol_errors_total",
      "Connections closed for bad frames",
      "counter",
      metrics.protocolErrors,
      l,
    ),
  ].join("");
}

// The node's HTTP port: the dashboard page, health, Prometheus metrics, and the bus over WebSocket for
// browsers.
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { networkInterfaces } from "node:os";
import type { Duplex } from "node:stream";
import { WebSocketServer } from "ws";
import { renderMetrics } from "../bus/metrics.js";
import { type BusServer, type Logger, WebSocketWire } from "../bus/server/index.js";
import { type DashboardFiles, serveDashboard } from "./dashboard.js";

export interface HttpOptions {
  tls?: { cert: string; key: string } | undefined;
  /**
   * Origins (scheme://host[:port]) whose pages may open a WebSocket here, besides the node's own; "*" for
   * any. A browser sends its page's Origin with every upgrade and lets any page dial any address, so
   * without this any website a user visits could reach the bus through their browser.
   */
  allowOrigins?: readonly string[] | undefined;
  log?: Logger | undefined;
  /** What keeps this node from doing its work (an engine its agent cannot see); none when healthy. */
  problems?: (() => string[]) | undefined;
  /** Metric families besides the bus's (containers, the agent); the signal ends with the scrape's deadline. */
  metrics?: ((signal: AbortSignal) => Promise<string>) | undefined;
  /** The dashboard page served at `/` (undefined: not built, and `/` says so). */
  dashboard?: DashboardFiles | undefined;
}

/** A scrape waits this long for the engine's figures; Prometheus's own scrape timeout defaults to 10 s. */
const SCRAPE_DEADLINE_MS = 8000;

/** `scheme://host:port` as a browser writes it in Origin (default port left out), or undefined if not one. */
export function normalizeOrigin(origin: string): string | undefined {
  try {
    const url = new URL(origin);
    return url.origin === "null" ? undefined : url.origin;
  } catch {
    return undefined;
  }
}

/** The origins of this listener itself: its address, or every local address when it listens on all. */
function ownOrigins(address: AddressInfo, scheme: string): Set<string> {
  const wildcard = address.address === "0.0.0.0" || address.address === "::";
  const hosts = new Set<string>(["localhost", address.address]);
  if (wildcard) {
    for (const entries of Object.values(networkInterfaces())) {
      for (const entry of entries ?? []) hosts.add(entry.address);
    }
  }
  if (address.address.startsWith("127.") || address.address === "::1") hosts.add("127.0.0.1").add("::1");
  const origins = new Set<string>();
  for (const host of hosts) {
    if (host === "0.0.0.0" || host === "::") continue;
    const origin = normalizeOrigin(`${scheme}://${host.includes(":") ? `[${host}]` : host}:${address.port}`);
    if (origin) origins.add(origin);
  }
  return origins;
}

/** Refuses an upgrade before it becomes a WebSocket. */
function refuseUpgrade(socket: Duplex, status: string, message: string): void {
  const body = `${message}\n`;
  socket.end(
    `HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: text/plain\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
  setTimeout(() => socket.destroy(), 1000).unref();
}

async function renderAll(bus: BusServer, options: HttpOptions, signal: AbortSignal): Promise<string> {
  const busText = renderMetrics(bus.name, bus.metrics, bus.gauges());
  try {
    return busText + ((await options.metrics?.(signal)) ?? "");
  } catch (error) {
    // The bus's own figures still answer; what failed is logged, never a crash of the node.
    options.log?.("error", "cannot render metrics", {
      error: error instanceof Error ? error.message : String(error),
    });
    return busText;
  }
}

export function createHttpFrontend(bus: BusServer, options: HttpOptions): Server {
  const handler = (request: IncomingMessage, response: ServerResponse) => {
    const path = (request.url ?? "/").split("?")[0];
    if (request.method === "GET" && path === "/healthz") {
      const gauges = bus.gauges();
      const problems = options.problems?.() ?? [];
      // 503 while degraded: a load balancer or an orchestrator probing this node takes it out.
      response.writeHead(problems.length > 0 ? 503 : 200, { "content-type": "application/json" });
      response.end(
        JSON.stringify({
          status: problems.length > 0 ? "degraded" : "ok",
          ...(problems.length > 0 ? { problems } : {}),
          node: bus.name,
          parentConnected: bus.parentConnected,
          // The parent linked to right now: the grandparent while this node falls back to it.
          parent: bus.parentName ?? null,
          ...gauges,
        }),
      );
      return;
    }
    if (request.method === "GET" && path === "/metrics") {
      void renderAll(bus, options, AbortSignal.timeout(SCRAPE_DEADLINE_MS)).then((text) => {
        response.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
        response.end(text);
      });
      return;
    }
    if (
      (request.method === "GET" || request.method === "HEAD") &&
      serveDashboard(options.dashboard, request, response, path ?? "/", options.tls !== undefined)
    )
      return;
    response.writeHead(404, { "content-type": "text/plain" });
    response.end("not found: try / (the dashboard), /healthz, /metrics, or a WebSocket upgrade\n");
  };
  const server = options.tls ? createHttpsServer(options.tls, handler) : createHttpServer(handler);
  const anyOrigin = options.allowOrigins?.includes("*") ?? false;
  const listed = new Set((options.allowOrigins ?? []).map(normalizeOrigin));
  let own: Set<string> | undefined;
  /** Whether a page of `origin` may open a WebSocket; no Origin header means no browser, and is let in. */
  const originAllowed = (origin: string | undefined): boolean => {
    if (origin === undefined || anyOrigin) return true;
    const normalized = normalizeOrigin(origin);
    if (normalized === undefined) return false;
    own ??= ownOrigins(server.address() as AddressInfo, options.tls ? "https" : "http");
    return listed.has(normalized) || own.has(normalized);
  };
  // No compression: a small compressed message could inflate to the frame limit before anyone checks it.
  const sockets = new WebSocketServer({
    noServer: true,
    maxPayload: bus.maxFrameBytes + 1024,
    perMessageDeflate: false,
  });
  server.on("upgrade", (request, socket, head) => {
    socket.on("error", () => socket.destroy());
    const address = request.socket.remoteAddress ?? "?";
    const origin = request.headers.origin;
    if (!originAllowed(origin)) {
      options.log?.("warn", "WebSocket refused: origin not allowed", { remote: address, origin });
      refuseUpgrade(
        socket,
        "403 Forbidden",
        `pages from ${origin} may not open a WebSocket to this node: start it with --allow-origin ${origin} to allow them`,
      );
      return;
    }
    sockets.handleUpgrade(request, socket, head, (ws) => {
      bus.accept(new WebSocketWire(ws, socket, address, request.socket.remotePort ?? 0));
    });
  });
  server.on("clientError", (_error, socket) => socket.destroy());
  return server;
}

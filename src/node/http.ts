// The node's HTTP port: health, Prometheus metrics, and the bus over WebSocket for browsers.
import {
  createServer as createHttpServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { WebSocketServer } from "ws";
import { renderMetrics } from "../bus/metrics.js";
import { type BusServer, WebSocketWire } from "../bus/server/index.js";

export interface HttpOptions {
  tls?: { cert: string; key: string } | undefined;
}

export function createHttpFrontend(bus: BusServer, options: HttpOptions): Server {
  const handler = (request: IncomingMessage, response: ServerResponse) => {
    const path = (request.url ?? "/").split("?")[0];
    if (request.method === "GET" && path === "/healthz") {
      const gauges = bus.gauges();
      response.writeHead(200, { "content-type": "application/json" });
      response.end(
        JSON.stringify({ status: "ok", node: bus.name, parentConnected: bus.parentConnected, ...gauges }),
      );
      return;
    }
    if (request.method === "GET" && path === "/metrics") {
      response.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
      response.end(renderMetrics(bus.name, bus.metrics, bus.gauges()));
      return;
    }
    response.writeHead(404, { "content-type": "text/plain" });
    response.end("not found: try /healthz, /metrics, or a WebSocket upgrade\n");
  };
  const server = options.tls ? createHttpsServer(options.tls, handler) : createHttpServer(handler);
  const sockets = new WebSocketServer({ noServer: true, maxPayload: bus.maxFrameBytes + 1024 });
  server.on("upgrade", (request, socket, head) => {
    socket.on("error", () => socket.destroy());
    sockets.handleUpgrade(request, socket, head, (ws) => {
      const remote = `ws:${request.socket.remoteAddress ?? "?"}:${request.socket.remotePort ?? 0}`;
      bus.accept(new WebSocketWire(ws, remote));
    });
  });
  server.on("clientError", (_error, socket) => socket.destroy());
  return server;
}

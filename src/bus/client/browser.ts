// The TreeScale bus client for browsers: WebSocket only (ws:// or wss:// on a node's HTTP port), over
// the browser's own WebSocket. What "treescale/client" resolves to under the "browser" condition, so a
// bundler never meets node:net or node:tls.
import { BusClient, type ClientOptions } from "./client.js";

export type { Message, Payload } from "../message.js";
export type { Target } from "../protocol/frames.js";
export { BusClient, type ClientOptions, DEFAULT_DEADLINE_MS } from "./client.js";
export { BusError, BusTimeoutError, type ConnectPhase, RequestHandlerError } from "./errors.js";
export type { Transport, TransportFactory, WebSocketConstructor } from "./transport.js";
export { connectWebSocket } from "./websocket-transport.js";

/** Connects to a node: `await connect({ url: "ws://node1:7080/", token, events: ["node.down"] })`. */
export function connect(options: ClientOptions): Promise<BusClient> {
  return BusClient.connect(options);
}

// The TreeScale bus client, for Node (TCP/TLS) and browsers (WebSocket). Package subpath "treescale/client".
import { BusClient, type ClientOptions } from "./client.js";

export type { Message, Payload } from "../message.js";
export type { Target } from "../protocol/frames.js";
export { BusClient, type ClientOptions, DEFAULT_DEADLINE_MS } from "./client.js";
export { BusError, BusTimeoutError, type ConnectPhase, RequestHandlerError } from "./errors.js";
export type { TlsClientOptions, Transport, TransportFactory, WebSocketConstructor } from "./transport.js";
export { connectWebSocket } from "./websocket-transport.js";

/** Connects to a node: `await connect({ url: "127.0.0.1:7000", token, events: ["deploy"] })`. */
export function connect(options: ClientOptions): Promise<BusClient> {
  return BusClient.connect(options);
}

// The TreeScale bus client for Node: TCP and TLS besides WebSocket. Package subpath "treescale/client";
// browsers get browser.ts through the export's "browser" condition.
import { type ClientOptions, BusClient as WebSocketBusClient } from "./client.js";
import { transportFor } from "./dial.js";

export type { DeliveryCount } from "../delivery-count.js";
export type { Message, Payload } from "../message.js";
export type { Target } from "../protocol/frames.js";
export { type ClientOptions, DEFAULT_DEADLINE_MS } from "./client.js";
export { BusError, BusTimeoutError, type ConnectPhase, RequestHandlerError } from "./errors.js";
export type { TlsClientOptions, Transport, TransportFactory, WebSocketConstructor } from "./transport.js";
export { connectWebSocket } from "./websocket-transport.js";

/** The bus client with every transport: `host:port`, tcp://, tls://, ws:// and wss://. */
export class BusClient extends WebSocketBusClient {
  protected static override dial = transportFor;
}

/** Connects to a node: `await connect({ url: "127.0.0.1:7000", token, events: ["deploy"] })`. */
export function connect(options: ClientOptions): Promise<WebSocketBusClient> {
  return BusClient.connect(options);
}

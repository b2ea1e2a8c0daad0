// WebSocket transport: each batch of frames is one binary message; the node parses the stream the same way
// as TCP, so message boundaries carry no meaning.
import { BusError } from "./errors.js";
import type { Transport, TransportFactory, WebSocketConstructor, WebSocketLike } from "./transport.js";

export const isWebSocketUrl = (url: string): boolean => /^wss?:\/\//.test(url);

/** The transport for a ws:// or wss:// URL; any other URL needs the Node entry's TCP and TLS. */
export function webSocketTransportFor(options: {
  url: string;
  webSocket?: WebSocketConstructor;
}): TransportFactory {
  const { url, webSocket } = options;
  if (!isWebSocketUrl(url))
    throw new BusError(
      "bad_url",
      `cannot connect to "${url}" over WebSocket: use ws:// or wss:// and the node's HTTP port (TCP and TLS ` +
        "need the client's Node entry)",
    );
  return (signal) => connectWebSocket(url, webSocket, signal);
}

/** Opens a WebSocket to the node; `signal` abandons the dial (the client's connect deadline). */
export function connectWebSocket(
  url: string,
  implementation?: WebSocketConstructor,
  signal?: AbortSignal,
): Promise<Transport> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  const Impl = implementation ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
  if (!Impl) {
    return Promise.reject(
      new BusError(
        "no_websocket",
        "no WebSocket implementation: pass options.webSocket (for example ws's WebSocket)",
      ),
    );
  }
  const socket: WebSocketLike = new Impl(url);
  socket.binaryType = "arraybuffer";
  return new Promise((resolve, reject) => {
    let open = false;
    const dataListeners: ((chunk: Uint8Array) => void)[] = [];
    const closeListeners: ((error?: Error) => void)[] = [];
    let failure: Error | undefined;
    const transport: Transport = {
      send: (data) => socket.send(data),
      bufferedBytes: () => socket.bufferedAmount,
      drained: () =>
        new Promise((done) => {
          const poll = () =>
            socket.bufferedAmount === 0 || socket.readyState !== 1 ? done() : setTimeout(poll, 1);
          poll();
        }),
      close: () => socket.close(1000),
      onData: (listener) => dataListeners.push(listener),
      onClose: (listener) => closeListeners.push(listener),
    };
    const onAbort = () => {
      if (open) return;
      reject(signal?.reason);
      socket.close(1000);
    };
    signal?.addEventListener("abort", onAbort);
    socket.addEventListener("open", () => {
      open = true;
      signal?.removeEventListener("abort", onAbort);
      resolve(transport);
    });
    socket.addEventListener("message", (event) => {
      const data = event.data;
      const chunk =
        data instanceof ArrayBuffer
          ? new Uint8Array(data)
          : data instanceof Uint8Array
            ? data
            : new Uint8Array(0);
      for (const listener of dataListeners) listener(chunk);
    });
    socket.addEventListener("error", (event) => {
      failure = new BusError("connect_failed", `WebSocket ${url}: ${event.message ?? "connection error"}`);
      if (!open) reject(failure);
    });
    socket.addEventListener("close", () => {
      if (!open) reject(failure ?? new BusError("connect_failed", `WebSocket ${url} closed before opening`));
      for (const listener of closeListeners) listener(failure);
    });
  });
}

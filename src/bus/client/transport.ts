// One interface for the client's byte stream; TCP/TLS (Node) and WebSocket (browsers, Node) behind it.
export interface Transport {
  /** Sends one batch of frames, already concatenated. */
  send(data: Uint8Array): void;
  /** Bytes accepted but not yet sent. */
  bufferedBytes(): number;
  /** Resolves when buffered bytes have been handed to the OS (or at once when nothing is buffered). */
  drained(): Promise<void>;
  close(): void;
  onData(listener: (chunk: Uint8Array) => void): void;
  onClose(listener: (error?: Error) => void): void;
}

export interface TlsClientOptions {
  ca?: string;
  cert?: string;
  key?: string;
  /** Name to verify the server certificate against (defaults to the host). */
  servername?: string;
  rejectUnauthorized?: boolean;
}

/**
 * Opens a connected transport. The client aborts `signal` when its connect deadline passes; a factory that
 * ignores it still works (the transport it opens too late is closed).
 */
export type TransportFactory = (signal?: AbortSignal) => Promise<Transport>;

/** The subset of the WHATWG WebSocket the client uses; `ws` and browsers both provide it. */
export interface WebSocketLike {
  binaryType: string;
  readonly bufferedAmount: number;
  readonly readyState: number;
  send(data: Uint8Array): void;
  close(code?: number): void;
  addEventListener(type: string, listener: (event: { data?: unknown; message?: string }) => void): void;
}
export type WebSocketConstructor = new (url: string) => WebSocketLike;

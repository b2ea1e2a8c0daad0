// Picks the transport for a client's URL in Node (WebSocket, TLS or plain TCP) and turns a failed dial
// into a BusError that says what to change (the scheme, tls.ca, tls.servername). Browsers use
// webSocketTransportFor instead: nothing of this module reaches their bundle.
import { BusError } from "./errors.js";
import type { TlsClientOptions, TransportFactory, WebSocketConstructor } from "./transport.js";
import { isWebSocketUrl, webSocketTransportFor } from "./websocket-transport.js";

/** What choosing a transport needs of a client's options. */
export type DialOptions = {
  url: string;
  tls?: TlsClientOptions;
  webSocket?: WebSocketConstructor;
};

/** The transport for `options.url`: ws:// and wss:// over WebSocket, anything else over TCP or TLS. */
export function transportFor(options: DialOptions): TransportFactory {
  const url = options.url;
  if (isWebSocketUrl(url)) return webSocketTransportFor(options);
  const tls = url.startsWith("tls://") ? (options.tls ?? {}) : options.tls;
  const match = /^(?:tcp:\/\/|tls:\/\/)?(?:\[([^\]]+)\]|([^:/]+)):(\d+)\/?$/.exec(url);
  if (!match)
    throw new BusError(
      "bad_url",
      `cannot connect to "${url}": use host:port, tcp://, tls://, ws:// or wss://`,
    );
  const host = match[1] ?? match[2] ?? "127.0.0.1";
  const port = Number(match[3]);
  const shown = `${tls ? "tls" : "tcp"}://${match[1] ? `[${host}]` : host}:${port}`;
  return async (signal) => {
    try {
      return await (await import("./tcp-transport.js")).connectSocket(host, port, tls, signal);
    } catch (error) {
      throw signal?.aborted ? error : connectError(shown, error);
    }
  };
}

/** Verifier codes of node:tls meaning "the node's certificate is not trusted for this address". */
const UNTRUSTED_CERTIFICATE = new Set([
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_UNTRUSTED",
  "CERT_SIGNATURE_FAILURE",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "ERR_TLS_CERT_ALTNAME_INVALID",
]);

/** A failed dial as a BusError whose message says what to change. */
function connectError(url: string, error: unknown): BusError {
  const code = (error as { code?: unknown }).code;
  const reason = `${(error as Error).message}${typeof code === "string" ? ` (${code})` : ""}`;
  if (typeof code === "string" && UNTRUSTED_CERTIFICATE.has(code)) {
    const fix =
      code === "ERR_TLS_CERT_ALTNAME_INVALID"
        ? "connect by a name or address the certificate lists, or set tls.servername"
        : "pass tls.ca with the CA that signed the node's certificate";
    return new BusError("tls_untrusted", `cannot trust the node at ${url}: ${reason}; ${fix}`, {
      cause: error,
    });
  }
  if (code === "ERR_SSL_WRONG_VERSION_NUMBER" || code === "ERR_SSL_PACKET_LENGTH_TOO_LONG") {
    return new BusError("connect_failed", `the node at ${url} does not speak TLS (${code}): use tcp://`, {
      cause: error,
    });
  }
  return new BusError("connect_failed", `cannot connect to ${url}: ${reason}`, { cause: error });
}

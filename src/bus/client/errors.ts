// The client's errors: a stable `code` callers branch on, and a message that says what to change. They are
// TreescaleErrors, so the CLI's one error boundary handles them like any other.
import { TreescaleError } from "../../errors.js";

/** An error from the node (ERROR frame) or from the client's own limits. */
export class BusError extends TreescaleError {}

/** The steps of reaching a node, and of handing it what was sent, each under its own deadline. */
export type ConnectPhase = "connect" | "handshake" | "subscribe" | "flush" | "confirm";

const TIMEOUT_CODES = {
  connect: "CONNECT_TIMEOUT",
  handshake: "HANDSHAKE_TIMEOUT",
  subscribe: "SUBSCRIBE_TIMEOUT",
  flush: "FLUSH_TIMEOUT",
  confirm: "CONFIRM_TIMEOUT",
} as const satisfies Record<ConnectPhase, string>;

function timeoutMessage(phase: ConnectPhase, address: string, timeoutMs: number): string {
  switch (phase) {
    case "connect":
      return (
        `could not open a connection to ${address} within ${timeoutMs} ms (connect timed out): check the ` +
        "address and that the node is up and reachable; raise connectTimeoutMs on a slow network"
      );
    case "handshake":
      return (
        `the node at ${address} took the connection but sent no READY within ${timeoutMs} ms (handshake ` +
        "timed out): check that it is a TreeScale node and that the scheme matches its listener (tls:// or " +
        "wss:// when it runs TLS); raise handshakeTimeoutMs when its auth hook is slow"
      );
    case "subscribe":
      return (
        `the node at ${address} did not confirm the new declaration (READY after DECLARE) within ` +
        `${timeoutMs} ms (subscribe timed out); the client drops that connection and declares again on the next`
      );
    case "flush":
      return (
        `the node at ${address} did not take what was sent within ${timeoutMs} ms (flush timed out): it ` +
        "stopped reading; check that it is not stalled or overloaded"
      );
    case "confirm":
      return (
        `the node at ${address} did not confirm what was sent (PONG after PING) within ${timeoutMs} ms ` +
        "(confirm timed out): check that it is not stalled or overloaded"
      );
  }
}

/** A phase of reaching the node outlived its deadline; `phase` and `address` say which and where. */
export class BusTimeoutError extends BusError {
  readonly phase: ConnectPhase;
  readonly address: string;
  readonly timeoutMs: number;
  constructor(phase: ConnectPhase, address: string, timeoutMs: number) {
    super(TIMEOUT_CODES[phase], timeoutMessage(phase, address, timeoutMs));
    this.phase = phase;
    this.address = address;
    this.timeoutMs = timeoutMs;
  }
}

/**
 * A responder's request handler threw or rejected, and its REPLY carried that error instead of an answer.
 * `handlerMessage` is the handler's own message; `handlerCode` the string `code` its error had, if any.
 */
export class RequestHandlerError extends BusError {
  readonly event: string;
  /** The node the failing responder is on (the reply's origin). */
  readonly responder: string;
  readonly handlerMessage: string;
  readonly handlerCode: string | undefined;
  constructor(event: string, responder: string, handlerMessage: string, handlerCode?: string) {
    super(
      "HANDLER_FAILED",
      `the "${event}" handler on node ${responder} failed: ${handlerMessage}` +
        (handlerCode ? ` (${handlerCode})` : ""),
    );
    this.event = event;
    this.responder = responder;
    this.handlerMessage = handlerMessage;
    this.handlerCode = handlerCode;
  }
}

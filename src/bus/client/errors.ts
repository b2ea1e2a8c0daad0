// The client's one error type: a stable `code` callers branch on, and a message that says what to change.

/** An error from the node (ERROR frame) or from the client's own limits. */
export class BusError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = "BusError";
  }
}

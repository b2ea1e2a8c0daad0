// Errors a container engine raises besides the shared ones in src/errors.ts
// (EngineUnreachableError, ImageUnavailableError, AbortedError), so controllers can tell them apart.
import { TreescaleError } from "../errors.js";

/** A container of that name exists already, owned by TreeScale or not; it is never replaced silently. */
export class ContainerNameConflictError extends TreescaleError {
  readonly container: string;
  constructor(container: string, message: string, options?: { cause?: unknown }) {
    super("CONTAINER_NAME_CONFLICT", message, options);
    this.container = container;
  }
}

/** The engine answered but refused or failed the request; statusCode is its HTTP status. */
export class EngineRequestError extends TreescaleError {
  readonly statusCode: number | undefined;
  constructor(message: string, statusCode: number | undefined, options?: { cause?: unknown }) {
    super("ENGINE_REQUEST_FAILED", message, options);
    this.statusCode = statusCode;
  }
}

/**
 * The engine took the connection but did not finish the call in time: it is hung or overloaded.
 * A mutation that timed out may still take effect; the caller relists before deciding again.
 */
export class EngineTimeoutError extends TreescaleError {
  /** What was asked, naming its container or image: `create container "shop_web_1_n1"`. */
  readonly operation: string;
  readonly timeoutMs: number;
  constructor(operation: string, timeoutMs: number, message: string, options?: { cause?: unknown }) {
    super("ENGINE_TIMEOUT", message, options);
    this.operation = operation;
    this.timeoutMs = timeoutMs;
  }
}

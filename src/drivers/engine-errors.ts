// Errors a container engine raises besides the shared ones in src/errors.ts
// (EngineUnreachableError, ImageUnavailableError), so controllers can tell them apart.
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

// Typed errors with stable codes. The CLI's one error boundary maps them to exit codes.

/** `interrupted`: 128 + SIGINT, what shells expect of a command stopped by Ctrl-C. */
export const EXIT = { ok: 0, failed: 1, differences: 1, invalid: 2, interrupted: 130 } as const;

export class TreescaleError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** A broken assumption inside TreeScale (a bug, not the user's input): the CLI exits 70 for it. */
export class InternalError extends TreescaleError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("INTERNAL", message, options);
  }
}

/** Expected termination with a given exit code; the message has already been printed or is the message. */
export class ExitError extends TreescaleError {
  readonly exitCode: number;
  constructor(exitCode: number, message = "") {
    super("EXIT", message);
    this.exitCode = exitCode;
  }
}

/** Bad user input: manifests, flags. Exit code 2. */
/** Where a manifest problem is, for `-o json`'s error document: file, line, column, field (a path). */
export type ErrorIssue = {
  code: string;
  message: string;
  file: string;
  line: number;
  column: number;
  field: string;
};

/** Manifests that do not hold: exit 2, every issue listed (as text, or as JSON with `-o json`). */
export class ManifestIssuesError extends ExitError {
  readonly issues: readonly ErrorIssue[];
  constructor(message: string, issues: readonly ErrorIssue[]) {
    super(2, message);
    this.issues = issues;
  }
}

export class UsageError extends TreescaleError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("USAGE", message, options);
  }
}

export class EngineUnreachableError extends TreescaleError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ENGINE_UNREACHABLE", message, options);
  }
}

export class ImageUnavailableError extends TreescaleError {
  readonly image: string;
  constructor(image: string, message: string, options?: { cause?: unknown }) {
    super("IMAGE_UNAVAILABLE", message, options);
    this.image = image;
  }
}

/**
 * The caller gave up on a call (its AbortSignal fired): the node is stopping, or the user pressed Ctrl-C.
 * Not a failure of the thing called, which may still carry out a request it had already received.
 */
export class AbortedError extends TreescaleError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("ABORTED", message, options);
  }
}

export function errorMessage(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

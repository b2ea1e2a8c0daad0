// A JSON document a node keeps on disk: read with a fallback when absent, refused with a clear
// fix when unreadable, written atomically.
import { rename } from "node:fs/promises";
import { TreescaleError } from "../errors.js";
import { readFileIfExists, writeFileAtomic } from "./atomic-file.js";

export class StateFileError extends TreescaleError {
  constructor(message: string, options?: { cause?: unknown }) {
    super("STATE_FILE", message, options);
  }
}

export class JsonStateFile<T> {
  constructor(
    readonly path: string,
    private readonly options: { fallback: T; isValid: (value: unknown) => boolean; whatToDo: string },
  ) {}

  async read(): Promise<T> {
    const text = await readFileIfExists(this.path);
    if (text === undefined) return this.options.fallback;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw new StateFileError(`${this.path} is not valid JSON; ${this.options.whatToDo}`, { cause: error });
    }
    if (!this.options.isValid(parsed)) {
      throw new StateFileError(
        `${this.path} does not hold what TreeScale wrote there; ${this.options.whatToDo}`,
      );
    }
    return parsed as T;
  }

  /**
   * Moves the file aside when it cannot be read (renamed beside itself, kept for a person to look
   * at), so that its owner starts from the fallback instead of not at all. Undefined when it reads.
   */
  async setAsideIfUnreadable(now: Date): Promise<{ movedTo: string; reason: string } | undefined> {
    try {
      await this.read();
      return undefined;
    } catch (error) {
      if (!(error instanceof StateFileError)) throw error;
      const movedTo = `${this.path}.unreadable-${now.toISOString().replace(/[:.]/g, "-")}`;
      await rename(this.path, movedTo);
      return { movedTo, reason: error.message };
    }
  }

  write(value: T): Promise<void> {
    return writeFileAtomic(this.path, `${JSON.stringify(value, null, 2)}\n`);
  }
}

export function hasNumberAndObject(numberKey: string, objectKey: string): (value: unknown) => boolean {
  return (value) => {
    if (typeof value !== "object" || value === null) return false;
    const record = value as Record<string, unknown>;
    return (
      typeof record[numberKey] === "number" &&
      typeof record[objectKey] === "object" &&
      record[objectKey] !== null
    );
  };
}

// Parsers for flag values every verb uses; no imports beyond the error type, so any verb can load them.
import { UsageError } from "../errors.js";

/** For repeatable flags: each occurrence appends. */
export function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export function wholeNumber(name: string, minimum: number) {
  return (value: string): number => {
    const parsed = Number(value);
    if (!/^\d+$/.test(value) || parsed < minimum) {
      throw new UsageError(`${name} must be a whole number ≥ ${minimum}, got "${value}"`);
    }
    return parsed;
  };
}

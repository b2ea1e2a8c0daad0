// Finds where each key path is declared in a TOML text. smol-toml gives values without positions,
// so this scanner walks headers, dotted keys, inline tables and arrays just far enough to record them.
import { lineStarts, type PathSegment, type Position, positionAt } from "../issues.js";

export type TomlLocator = (path: readonly PathSegment[]) => Position;

/** Every declared path (as JSON of its segments) mapped to the offset of its key, header or element. */
export function scanTomlPaths(text: string): Map<string, number> {
  return new TomlScanner(text).scan();
}

/** Position of a path, else of its nearest declared parent, else line 1. */
export function createTomlLocator(text: string): TomlLocator {
  const offsets = scanTomlPaths(text);
  const starts = lineStarts(text);
  return (path) => {
    for (let length = path.length; length > 0; length--) {
      const offset = offsets.get(JSON.stringify(path.slice(0, length)));
      if (offset !== undefined) return positionAt(starts, offset);
    }
    return { line: 1, column: 1 };
  };
}

const BARE_KEY_CHAR = /[A-Za-z0-9_-]/;
const SCALAR_END = new Set([",", "]", "}", "#", "\n", "\r"]);

class TomlScanner {
  private index = 0;
  private readonly found = new Map<string, number>();
  /** Array-of-tables paths and the index of their latest element. */
  private readonly tableArrays = new Map<string, number>();

  constructor(private readonly text: string) {}

  scan(): Map<string, number> {
    let table: PathSegment[] = [];
    while (this.index < this.text.length) {
      this.skipBlank();
      if (this.index >= this.text.length) break;
      const start = this.index;
      const char = this.text[this.index];
      if (char === "[") {
        const isArray = this.text[this.index + 1] === "[";
        this.index += isArray ? 2 : 1;
        const keys = this.readDottedKey();
        const header = this.resolveHeader(keys);
        if (isArray) {
          const id = JSON.stringify(header);
          const element = (this.tableArrays.get(id) ?? -1) + 1;
          this.tableArrays.set(id, element);
          this.record(header, start);
          table = [...header, element];
        } else table = header;
        this.record(table, start);
        this.skipLine();
      } else if (BARE_KEY_CHAR.test(char!) || char === '"' || char === "'") {
        const keys = this.readDottedKey();
        this.recordKeys(table, keys, start);
        this.skipSpaces();
        if (this.text[this.index] === "=") {
          this.index++;
          this.readValue([...table, ...keys]);
        }
        this.skipLine();
      } else this.skipLine();
    }
    return this.found;
  }

  private record(path: readonly PathSegment[], offset: number): void {
    const id = JSON.stringify(path);
    if (!this.found.has(id)) this.found.set(id, offset);
  }

  private recordKeys(base: readonly PathSegment[], keys: readonly string[], offset: number): void {
    for (let length = 1; length <= keys.length; length++)
      this.record([...base, ...keys.slice(0, length)], offset);
  }

  /** `[a.b]` after `[[a]]` means the latest element of a. */
  private resolveHeader(keys: readonly string[]): PathSegment[] {
    const path: PathSegment[] = [];
    for (const [position, key] of keys.entries()) {
      path.push(key);
      const element = this.tableArrays.get(JSON.stringify(path));
      if (element !== undefined && position < keys.length - 1) path.push(element);
    }
    return path;
  }

  private readDottedKey(): string[] {
    const keys: string[] = [];
    for (;;) {
      this.skipSpaces();
      const key = this.readKey();
      if (key === undefined) break;
      keys.push(key);
      this.skipSpaces();
      if (this.text[this.index] !== ".") break;
      this.index++;
    }
    return keys;
  }

  private readKey(): string | undefined {
    const char = this.text[this.index];
    if (char === '"' || char === "'") {
      const start = this.index;
      this.skipString();
      const raw = this.text.slice(start, this.index);
      if (char === "'") return raw.slice(1, -1);
      try {
        return JSON.parse(raw) as string;
      } catch {
        return raw.slice(1, -1);
      }
    }
    const start = this.index;
    while (this.index < this.text.length && BARE_KEY_CHAR.test(this.text[this.index]!)) this.index++;
    return this.index > start ? this.text.slice(start, this.index) : undefined;
  }

  private readValue(path: readonly PathSegment[]): void {
    this.skipSpaces();
    const char = this.text[this.index];
    if (char === "{") this.readInlineTable(path);
    else if (char === "[") this.readArray(path);
    else if (char === '"' || char === "'") this.skipString();
    else while (this.index < this.text.length && !SCALAR_END.has(this.text[this.index]!)) this.index++;
  }

  private readInlineTable(path: readonly PathSegment[]): void {
    this.index++;
    while (this.index < this.text.length) {
      this.skipBlank();
      const char = this.text[this.index];
      if (char === "}") {
        this.index++;
        return;
      }
      if (char === ",") {
        this.index++;
        continue;
      }
      const start = this.index;
      const keys = this.readDottedKey();
      if (keys.length === 0) return;
      this.recordKeys(path, keys, start);
      this.skipSpaces();
      if (this.text[this.index] !== "=") return;
      this.index++;
      this.readValue([...path, ...keys]);
    }
  }

  private readArray(path: readonly PathSegment[]): void {
    this.index++;
    let element = 0;
    while (this.index < this.text.length) {
      this.skipBlank();
      const char = this.text[this.index];
      if (char === "]") {
        this.index++;
        return;
      }
      if (char === ",") {
        this.index++;
        element++;
        continue;
      }
      const before = this.index;
      this.record([...path, element], before);
      this.readValue([...path, element]);
      if (this.index === before) this.index++;
    }
  }

  private skipString(): void {
    const quote = this.text[this.index]!;
    const triple = this.text.startsWith(quote.repeat(3), this.index);
    const closing = triple ? quote.repeat(3) : quote;
    this.index += closing.length;
    while (this.index < this.text.length) {
      const char = this.text[this.index]!;
      if (char === "\\" && quote === '"') this.index += 2;
      else if (this.text.startsWith(closing, this.index)) {
        this.index += closing.length;
        // A multi-line string may end with up to two extra quotes: """a""""".
        while (triple && this.text[this.index] === quote) this.index++;
        return;
      } else if (char === "\n" && !triple) return;
      else this.index++;
    }
  }

  private skipSpaces(): void {
    while (this.text[this.index] === " " || this.text[this.index] === "\t") this.index++;
  }

  /** Spaces, line breaks and comments. */
  private skipBlank(): void {
    for (;;) {
      const char = this.text[this.index];
      if (char === " " || char === "\t" || char === "\n" || char === "\r") this.index++;
      else if (char === "#")
        while (this.index < this.text.length && this.text[this.index] !== "\n") this.index++;
      else return;
    }
  }

  private skipLine(): void {
    while (this.index < this.text.length && this.text[this.index] !== "\n") {
      const char = this.text[this.index];
      if (char === "#") while (this.index < this.text.length && this.text[this.index] !== "\n") this.index++;
      else if (char === '"' || char === "'") this.skipString();
      else this.index++;
    }
  }
}

// shellQuote is the one place a command word meets a shell: whatever the word holds, a POSIX shell
// reads it back as that one word. Checked against a real /bin/sh, not only against expected strings.
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { commandLine, shellQuote } from "../../../src/drivers/ssh.js";

const exec = promisify(execFile);

/** What `sh -c LINE` passes on: printf prints each argument NUL-terminated. */
async function wordsAfterShell(argv: readonly string[]): Promise<string[]> {
  const { stdout } = await exec("/bin/sh", ["-c", commandLine(["printf", "%s\\0", ...argv])]);
  return stdout.split("\0").slice(0, -1);
}

describe("shellQuote", () => {
  it("single-quotes every word, a plain one too", () => {
    expect(shellQuote("docker")).toBe("'docker'");
    expect(shellQuote("")).toBe("''");
  });

  it("closes, escapes and reopens the quote for a single quote", () => {
    expect(shellQuote("it's")).toBe("'it'\\''s'");
  });

  it("leaves every other metacharacter inert inside the quotes", () => {
    expect(shellQuote("x; touch /tmp/pwned $(id) `id` | & > \\ \n *")).toBe(
      "'x; touch /tmp/pwned $(id) `id` | & > \\ \n *'",
    );
  });

  it("a shell reads each quoted word back unchanged and as one word", async () => {
    const words = [
      "a b",
      "x; touch /tmp/pwned",
      "$HOME",
      "`id`",
      "it's",
      "''",
      "\\",
      "*",
      "-n",
      "\n\t",
      "é ✓",
      "",
    ];
    expect(await wordsAfterShell(words)).toEqual(words);
  });

  it("holds for any word without NUL (property, against /bin/sh)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.string({ unit: "binary" }).map((word) => word.replaceAll("\0", "")),
          { minLength: 1, maxLength: 4 },
        ),
        async (words) => {
          expect(await wordsAfterShell(words)).toEqual(words);
        },
      ),
      { numRuns: 60 },
    );
  });

  it("the command line refuses an empty argv and a word with NUL", () => {
    expect(() => commandLine([])).toThrow(/needs a command/);
    expect(() => commandLine(["echo", "a\0b"])).toThrow(/NUL/);
  });
});

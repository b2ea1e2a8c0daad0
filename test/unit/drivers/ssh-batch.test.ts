// A batch of commands in one exec: run here by a real /bin/sh through the same quoting the SSH
// driver applies (commandLine), so what is checked is what a server's shell does with it.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { promisify } from "node:util";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { commandLine } from "../../../src/drivers/ssh.js";
import { batchArgv, splitBatch } from "../../../src/drivers/ssh-batch.js";

const exec = promisify(execFile);
const BOUNDARY = "0123456789abcdef0123456789abcdef";

/** The batch as sshd would run it: the user's shell given the quoted line. */
async function runBatch(commands: string[][]) {
  const line = commandLine(batchArgv(commands, BOUNDARY));
  const output = await exec("/bin/sh", ["-c", line]).catch(
    (error: { stdout: string; stderr: string }) => error,
  );
  return splitBatch(output, BOUNDARY, commands.length);
}

describe("ssh batch", () => {
  it("runs each command once and gives back each one's exit code, stdout and stderr in order", async () => {
    const results = await runBatch([
      ["echo", "hi"],
      ["sh", "-c", "printf partial; echo oops >&2; exit 3"],
      ["test", "-d", "/no/such/dir"],
      ["no-such-command-here"],
      ["cat"],
    ]);
    expect(results?.slice(0, 4).map((r) => r.code)).toEqual([0, 3, 1, 127]);
    expect(results?.[0]).toEqual({ code: 0, stdout: "hi\n", stderr: "" });
    // Output without a final newline comes back as it was.
    expect(results?.[1]).toEqual({ code: 3, stdout: "partial", stderr: "oops\n" });
    expect(results?.[3]?.stderr).toMatch(/no-such-command-here.*not found/);
    // stdin is empty: cat ends at once rather than waiting.
    expect(results?.[4]).toEqual({ code: 0, stdout: "", stderr: "" });
  });

  it("hands every word to its command as data, past the ninth and full of shell syntax", async () => {
    const pwned = `/tmp/treescale-batch-pwned-${randomBytes(4).toString("hex")}`;
    const words = [
      `x; touch ${pwned}`,
      `$(touch ${pwned})`,
      `\`touch ${pwned}\``,
      'it\'s "quoted"',
      "a\nb",
      "",
      ..."3456789".split(""),
      "$1 $9 $@",
    ];
    const results = await runBatch([
      ["printf", "%s\\0", ...words],
      ["printf", "%s\\0", "second"],
    ]);
    expect(results?.[0]?.stdout.split("\0").slice(0, -1)).toEqual(words);
    expect(results?.[1]?.stdout).toBe("second\0");
    expect(existsSync(pwned)).toBe(false);
  });

  it("any words round-trip (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.array(
            fc.string({ unit: "grapheme" }).filter((w) => !w.includes("\0")),
            { minLength: 1, maxLength: 12 },
          ),
          {
            minLength: 1,
            maxLength: 4,
          },
        ),
        async (argvs) => {
          const results = await runBatch(argvs.map((words) => ["printf", "%s\\0", ...words]));
          expect(results?.map((r) => r.stdout.split("\0").slice(0, -1))).toEqual(argvs);
        },
      ),
      { numRuns: 25 },
    );
  });

  it("output that is not the batch's (no shell ran it) is not mistaken for results", () => {
    expect(splitBatch({ stdout: "", stderr: "sh: not found\n" }, BOUNDARY, 1)).toBeUndefined();
    expect(
      splitBatch({ stdout: `a\n${BOUNDARY} 0\n`, stderr: `\n${BOUNDARY} 0\n` }, BOUNDARY, 2),
    ).toBeUndefined();
  });

  it("refuses a guessable boundary and an empty command", () => {
    expect(() => batchArgv([["true"]], "x")).toThrow(/boundary/);
    expect(() => batchArgv([[]], BOUNDARY)).toThrow(/empty command/);
  });
});

// Shell completion and version, as a user installs and runs them: bash's own `complete` runs the
// generated function; zsh and fish scripts are checked for what they declare.
import { execFileSync } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireBuild, runCli, scratch } from "../support/cli.js";

let work: Awaited<ReturnType<typeof scratch>>;

beforeAll(async () => {
  requireBuild();
  work = await scratch();
});

afterAll(async () => {
  await work?.remove();
});

/** What bash completes for the words typed so far (the last one being completed). */
function complete(script: string, words: string[]): string[] {
  const program = `source "${script}"; COMP_WORDS=(${words.map((w) => `'${w}'`).join(" ")}); COMP_CWORD=${words.length - 1}; _treescale; printf '%s\\n' "\${COMPREPLY[@]}"`;
  return execFileSync("bash", ["-c", program]).toString().split("\n").filter(Boolean);
}

describe("treescale completion and version", () => {
  it("bash: completes verbs, and each verb's own flags, through complete -F", async () => {
    const result = await runCli(["completion", "bash"]);
    expect(result.code).toBe(0);
    const script = join(work.dir, "treescale.bash");
    await writeFile(script, result.stdout);
    expect(execFileSync("bash", ["-c", `source "${script}"; complete -p treescale`]).toString()).toContain(
      "complete -F _treescale treescale",
    );
    expect(complete(script, ["treescale", "ap"])).toEqual(["apply"]);
    expect(complete(script, ["treescale", "d"])).toEqual(["delete", "diff"]);
    expect(complete(script, ["treescale", "apply", "--dr"])).toEqual(["--dry-run"]);
    expect(complete(script, ["treescale", "get", "--con"]).sort()).toEqual([
      "--connect-timeout",
      "--context",
    ]);
  });

  it("zsh and fish scripts declare the verbs; an unknown shell is a usage error", async () => {
    const zsh = await runCli(["completion", "zsh"]);
    expect(zsh.stdout.startsWith("#compdef treescale")).toBe(true);
    const fish = await runCli(["completion", "fish"]);
    expect(fish.stdout).toContain('complete -c treescale -n "__fish_use_subcommand" -a apply');
    expect(fish.stdout).toContain('__fish_seen_subcommand_from apply" -l dry-run');
    const unknown = await runCli(["completion", "tcsh"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("choose bash, zsh or fish");
  });

  it("-v, --version and version print this build's version", async () => {
    const pkg = JSON.parse(
      execFileSync("node", ["-p", "JSON.stringify(require('./package.json'))"]).toString(),
    );
    expect((await runCli(["-v"])).stdout.trim()).toBe(pkg.version);
    expect((await runCli(["--version"])).stdout.trim()).toBe(pkg.version);
    const json = JSON.parse((await runCli(["version", "-o", "json"])).stdout);
    expect(json).toMatchObject({ treescale: pkg.version, node: process.version });
  });
});

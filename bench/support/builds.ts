// Which treescale a benchmark runs: this checkout's build and, with --baseline=DIR, another
// checkout's (an older commit built there), each found through its package.json "bin", the file
// a user's `treescale` runs, so the two are timed as users would run them whatever their layout.
import { access, readFile } from "node:fs/promises";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";

export type Build = { label: string; cli: string };

/** This checkout's root: dist/bench/support/ is three levels below it. */
const THIS_ROOT = fileURLToPath(new URL("../../../", import.meta.url));

/** This build first, then the baseline when `--baseline=DIR` is among the arguments. */
export async function buildsFrom(args: readonly string[]): Promise<Build[]> {
  const baseline = args.find((arg) => arg.startsWith("--baseline="))?.slice("--baseline=".length);
  const builds = [{ label: "treescale", cli: await cliOf(THIS_ROOT) }];
  if (baseline !== undefined) builds.push({ label: "baseline", cli: await cliOf(resolve(baseline)) });
  return builds;
}

async function cliOf(root: string): Promise<string> {
  const manifest = JSON.parse(await readFile(resolve(root, "package.json"), "utf8")) as {
    bin?: string | Record<string, string>;
  };
  const bin = typeof manifest.bin === "string" ? manifest.bin : manifest.bin?.treescale;
  if (bin === undefined) throw new Error(`${root}/package.json names no "bin" for treescale`);
  const cli = resolve(root, bin);
  await access(cli).catch(() => {
    throw new Error(`${cli} is missing: run \`npm run build\` in ${root} first`);
  });
  return cli;
}

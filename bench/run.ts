// `npm run bench -- [name] [options]`: each benchmark prints its own figures beside the peer's, measured
// in the same run. Without a name every benchmark runs with the options, so `npm run bench --
// --baseline=DIR` compares this build with DIR's wherever a benchmark supports it.
const benches: Record<string, () => Promise<{ run(args: string[]): Promise<void> }>> = {
  apply: () => import("./apply.js"),
  balancer: () => import("./balancer.js"),
  build: () => import("./build.js"),
  dashboard: () => import("./dashboard.js"),
  bus: () => import("./bus.js"),
  drift: () => import("./drift.js"),
  images: () => import("./images.js"),
  tree: () => import("./tree.js"),
  monitor: () => import("./monitor.js"),
};

async function main(): Promise<void> {
  const words = process.argv.slice(2);
  const name = words[0]?.startsWith("-") === false ? words[0] : undefined;
  const args = name === undefined ? words : words.slice(1);
  const names = Object.keys(benches);
  const selected = name ? [name] : names;
  for (const bench of selected) {
    const load = benches[bench];
    if (!load) {
      process.stderr.write(`unknown benchmark "${bench}"; choose one of: ${names.join(", ")}\n`);
      process.exitCode = 2;
      return;
    }
    process.stdout.write(`\n=== bench ${bench} ===\n`);
    await (await load()).run(args);
  }
}

await main();

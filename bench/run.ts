// `npm run bench -- <name>`: each benchmark prints its own figures beside the peer's, measured in the same run.
const benches: Record<string, () => Promise<{ run(args: string[]): Promise<void> }>> = {
  apply: () => import("./apply.js"),
  bus: () => import("./bus.js"),
  drift: () => import("./drift.js"),
};

async function main(): Promise<void> {
  const [name, ...args] = process.argv.slice(2);
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

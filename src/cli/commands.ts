// Every verb of the CLI, one module each, and only the verb being run is loaded: a verb's module
// pulls in what it needs (the bus verbs a server and a client), which `--version` and `validate`
// never should pay for at startup.
import { Command } from "commander";
import type { Kinds } from "./kinds.js";

/** `everyVerb` gives a program with all verbs registered, for a verb that describes them (completion). */
type Register = (program: Command, kinds: Kinds, everyVerb: () => Promise<Command>) => void;

const VERBS: Record<string, () => Promise<Register>> = {
  validate: async () => (await import("./validate.js")).registerValidate,
  diff: async () => (await import("./diff.js")).registerDiff,
  apply: async () => (await import("./apply.js")).registerApply,
  get: async () => (await import("./get.js")).registerGet,
  node: async () => (await import("./node.js")).registerNode,
  events: async () => (await import("./events.js")).registerEvents,
  publish: async () => (await import("./publish.js")).registerPublish,
  watch: async () => (await import("./watch.js")).registerWatch,
  top: async () => (await import("./top.js")).registerTop,
  build: async () => (await import("./build.js")).registerBuild,
  context: async () => (await import("./context.js")).registerContext,
  delete: async () => (await import("./delete.js")).registerDelete,
  image: async () => (await import("./image.js")).registerImage,
  completion: async () => (await import("./completion.js")).registerCompletion,
  version: async () => (await import("./version-verb.js")).registerVersion,
  logs: async () => (await import("./logs.js")).registerLogs,
};

/** Other names a verb answers to (commander knows them as aliases once the verb is registered). */
const ALIASES: Record<string, string> = { down: "delete" };

/**
 * Registers the verb named in `args` (the arguments after the program name); every verb when
 * none is named or the name is unknown, so help and commander's suggestions list them all.
 */
export async function registerCommands(
  program: Command,
  args: readonly string[],
  kinds: Kinds,
): Promise<void> {
  const verb = args.find((arg) => !arg.startsWith("-"));
  if (verb === undefined && args.some((arg) => arg === "-v" || arg === "--version")) return;
  const load = verb === undefined ? undefined : VERBS[ALIASES[verb] ?? verb];
  const loaders = load === undefined ? Object.values(VERBS) : [load];
  const everyVerb = async () => {
    const every = new Command("treescale");
    await registerCommands(every, [], kinds);
    return every;
  };
  for (const register of await Promise.all(loaders.map((loader) => loader())))
    register(program, kinds, everyVerb);
  const { addExamples } = await import("./help-examples.js");
  for (const command of program.commands)
    for (const verb of [command, ...command.commands]) addExamples(verb);
  // Declared here rather than per verb, so that no verb that reaches a node can lack them.
  const connecting = program.commands.filter((command) => command.options.some((o) => o.long === "--node"));
  if (connecting.length === 0) return;
  const { addConnectionOptions } = await import("./bus-connection.js");
  for (const command of connecting) addConnectionOptions(command);
}

// `treescale events`: subscribe to tree events and print them, one JSON object (or text line) per event.
import type { Command } from "commander";
import type { Message } from "../bus/client/index.js";
import { EXIT, UsageError } from "../errors.js";
import { BusCliError, type ConnectionFlags, connectClient, treeEndpoint } from "./bus-connection.js";
import { connectEmbeddedClient } from "./embedded-client.js";
import { collect } from "./flag-values.js";
import type { Kinds } from "./kinds.js";
import { nextStopSignal } from "./stop-signal.js";

function dataOf(message: Message): unknown {
  const text = message.text();
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

export function formatEvent(message: Message, output: "json" | "text"): string {
  if (output === "json") {
    return JSON.stringify({
      event: message.event,
      origin: message.origin,
      target: message.target,
      kind: message.kind,
      data: dataOf(message),
    });
  }
  const target = Object.entries(message.target)
    .map(([key, value]) => `${key}=${value}`)
    .join(" ");
  return `${message.event} from=${message.origin}${target ? ` ${target}` : ""} ${message.text()}`;
}

interface EventsFlags extends ConnectionFlags {
  name: string;
  heal: boolean;
  event: string[];
  tag: string[];
  group: string[];
  channel: string[];
  output: string;
}

export function registerEvents(program: Command, kinds: Kinds): void {
  program
    .command("events")
    .description("print events from the tree as they arrive (JSON lines with -o json)")
    .option("--node <host:port|url>", "node to connect to (default $TREESCALE_NODE; none: the embedded node)")
    .option("--token <token>", "client token (default $TREESCALE_TOKEN)")
    .option("--event <name>", "event to receive, repeatable (default: every event)", collect, [])
    .option("--tag <tag>", "join a tag, repeatable", collect, [])
    .option("--group <group>", "join a group, repeatable", collect, [])
    .option("--channel <channel>", "join a channel, repeatable", collect, [])
    .option("-o, --output <format>", "json or text", "text")
    .option("--name <node>", "without --node: the embedded node's name", "local")
    .option(
      "--no-heal",
      "without --node, when this command runs the embedded node: report drift, never heal it",
    )
    .action(async (flags: EventsFlags) => {
      if (flags.output !== "json" && flags.output !== "text")
        throw new UsageError('-o must be "json" or "text"');
      const output = flags.output;
      // Without --node or a recorded tree, the embedded node: joined if a `watch` runs it, else run here.
      const declaration = {
        events: flags.event.length > 0 ? flags.event : ["*"],
        tags: flags.tag,
        groups: flags.group,
        channels: flags.channel,
      };
      const stopped = nextStopSignal();
      const tree = await treeEndpoint(flags);
      const { client, embedded } = tree
        ? { client: await connectClient(tree, declaration), embedded: undefined }
        : await connectEmbeddedClient(
            flags.name,
            { heal: flags.heal, readOnly: false, kinds },
            flags,
            declaration,
          );
      process.stderr.write(`connected to ${client.node}\n`);
      client.onMessage((message) => process.stdout.write(`${formatEvent(message, output)}\n`));
      // As `logs -f`: Ctrl-C exits at once with 130, as shells expect after SIGINT.
      const ended = await Promise.race([client.closed, stopped]);
      if (typeof ended === "string") {
        process.exitCode = ended === "SIGINT" ? EXIT.interrupted : EXIT.ok;
        await client.close();
      }
      const error = typeof ended === "string" ? undefined : ended;
      await embedded?.close();
      if (error) throw new BusCliError(`connection ended: ${error.code}: ${error.message}`, error);
    });
}

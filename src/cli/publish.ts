// `treescale publish EVENT`: send one event into the tree, optionally narrowed to a node, tag, group, channel.
import type { Command } from "commander";
import type { Target } from "../bus/client/index.js";
import { type ConnectionFlags, connectClient, connectionError, connectionFrom } from "./bus-connection.js";

interface PublishFlags extends ConnectionFlags {
  data?: string;
  tag?: string;
  group?: string;
  channel?: string;
  toNode?: string;
}

export function registerPublish(program: Command): void {
  program
    .command("publish <event>")
    .description("publish an event into the tree")
    .option("--node <host:port|url>", "node to connect to (default $TREESCALE_NODE)")
    .option("--token <token>", "client token (default $TREESCALE_TOKEN)")
    .option("--data <text>", "payload (sent as given, usually JSON)", "")
    .option("--tag <tag>", "only subscribers with this tag")
    .option("--group <group>", "only subscribers in this group")
    .option("--channel <channel>", "only subscribers in this channel")
    .option("--to-node <name>", "only subscribers connected to this node")
    .action(async (event: string, flags: PublishFlags) => {
      const endpoint = connectionFrom(flags);
      const client = await connectClient(endpoint, { reconnect: false });
      const target: Target = {};
      if (flags.tag) target.tag = flags.tag;
      if (flags.group) target.group = flags.group;
      if (flags.channel) target.channel = flags.channel;
      if (flags.toNode) target.node = flags.toNode;
      client.publish(event, flags.data ?? "", target);
      // Handing the event to the socket is not enough: a node that refuses it (a token without
      // publish:EVENT) answers ERROR forbidden, which may come after the flush. confirm() waits, within the
      // deadline, for the node's PONG to a PING sent after the event, or for its ERROR.
      try {
        await client.confirm();
      } catch (error) {
        await client.close();
        throw connectionError(endpoint.url, error);
      }
      await client.close();
    });
}

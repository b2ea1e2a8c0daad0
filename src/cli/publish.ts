// `treescale publish EVENT`: send one event into the tree, optionally narrowed to a node, tag, group,
// channel, and say how many subscribers received it (with --wait-for-subscriber: once one is reachable).
import type { Command } from "commander";
import type { BusClient, DeliveryCount, Target } from "../bus/client/index.js";
import { EXIT, ExitError, UsageError } from "../errors.js";
import {
  type ConnectionFlags,
  connectClient,
  connectionError,
  endpointSettings,
  treeEndpoint,
} from "./bus-connection.js";
import { connectEmbeddedClient } from "./embedded-client.js";
import { wholeNumber } from "./flag-values.js";
import type { EmbeddedNode } from "./fleet-connection.js";
import type { Kinds } from "./kinds.js";
import { formatDeliveryCount, publishWhenSubscribed } from "./publish-count.js";
import { nextStopSignal } from "./stop-signal.js";

interface PublishFlags extends ConnectionFlags {
  data?: string;
  tag?: string;
  group?: string;
  channel?: string;
  toNode?: string;
  waitForSubscriber: boolean;
  waitTimeout: number;
  output: string;
  name: string;
}

export function registerPublish(program: Command, kinds: Kinds): void {
  program
    .command("publish <event>")
    .description("publish an event into the tree; prints how many subscribers received it")
    .option("--node <host:port|url>", "node to connect to (default $TREESCALE_NODE; none: the embedded node)")
    .option("--token <token>", "client token (default $TREESCALE_TOKEN)")
    .option("--data <text>", "payload (sent as given, usually JSON)", "")
    .option("--tag <tag>", "only subscribers with this tag")
    .option("--group <group>", "only subscribers in this group")
    .option("--channel <channel>", "only subscribers in this channel")
    .option("--to-node <name>", "only subscribers connected to this node")
    .option("--wait-for-subscriber", "publish once at least one subscriber is reachable (see --wait-timeout)")
    .option(
      "--wait-timeout <seconds>",
      "with --wait-for-subscriber: give up, publishing nothing, after this long",
      wholeNumber("--wait-timeout", 1),
      30,
    )
    .option("-o, --output <format>", "json or text (the number of subscribers reached)", "text")
    .option("--name <node>", "without --node: the embedded node's name", "local")
    .action(async (event: string, flags: PublishFlags) => {
      if (flags.output !== "json" && flags.output !== "text")
        throw new UsageError('-o must be "json" or "text"');
      const output = flags.output;
      const endpoint = await treeEndpoint(flags);
      // Without --node or a recorded tree, the embedded node: joined if a `watch` or `events` runs it; otherwise one runs here
      // for the publish, read-only (it never acts on containers), whose only subscribers would be ours.
      const { client, embedded }: { client: BusClient; embedded: EmbeddedNode | undefined } = endpoint
        ? { client: await connectClient(endpoint, { reconnect: false }), embedded: undefined }
        : await connectEmbeddedClient(flags.name, { heal: false, readOnly: true, kinds }, flags, {
            reconnect: false,
          });
      const target: Target = {};
      if (flags.tag) target.tag = flags.tag;
      if (flags.group) target.group = flags.group;
      if (flags.channel) target.channel = flags.channel;
      if (flags.toNode) target.node = flags.toNode;
      const payload = flags.data ?? "";
      // Reports come within the deadline of every other wait of this verb.
      const reportDeadlineMs = endpointSettings(flags).deadlineMs;
      try {
        // A counted publish: every node it reaches reports its subscribers and where it sent it on. The
        // first report, from the node we are connected to, also says it took the event (a refusal is ERROR).
        let sent = false;
        const publish = (timeoutMs: number) => {
          sent = true;
          return client.publishCounted(event, payload, target, { timeoutMs });
        };
        const count = flags.waitForSubscriber
          ? await untilInterrupted(
              event,
              () => sent,
              publishWhenSubscribed(
                event,
                {
                  probe: (timeoutMs) => client.publishCounted(event, "", target, { timeoutMs, probe: true }),
                  publish,
                  waiting: () =>
                    process.stderr.write(
                      `waiting up to ${flags.waitTimeout} s for a subscriber of "${event}" to be reachable\n`,
                    ),
                  now: Date.now,
                  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
                },
                flags.waitTimeout * 1000,
                reportDeadlineMs,
              ),
            )
          : await publish(reportDeadlineMs);
        const { stdout, note } = formatDeliveryCount(count, output, reportDeadlineMs);
        process.stdout.write(`${stdout}\n`);
        if (note) process.stderr.write(`${note}\n`);
      } catch (error) {
        throw connectionError(endpoint?.url ?? embedded?.url ?? flags.name, error);
      } finally {
        await client.close();
        await embedded?.close();
      }
    });
}

/** Ctrl-C while waiting for a subscriber ends the wait at once with 130, saying whether the event went out. */
async function untilInterrupted(
  event: string,
  sent: () => boolean,
  waiting: Promise<DeliveryCount>,
): Promise<DeliveryCount> {
  const stopped = nextStopSignal();
  const ended = await Promise.race([waiting, stopped]);
  if (typeof ended !== "string") return ended;
  throw new ExitError(
    EXIT.interrupted,
    sent()
      ? `interrupted: "${event}" was published; how many received it is not known`
      : `interrupted while waiting for a subscriber of "${event}": nothing was published`,
  );
}

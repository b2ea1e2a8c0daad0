// `treescale image push IMAGE|--input FILE [--to node:NAME|tag:TAG|all]`: from this machine's engine,
// or a `docker save` archive, into every engine of the target, through the tree (see src/images); and
// the rows of `treescale get images`.
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Command } from "commander";
import type { BusClient } from "../bus/client/index.js";
import type { Message } from "../bus/message.js";
import { DockerImages } from "../drivers/docker-images.js";
import { ExitError, UsageError } from "../errors.js";
import { ImageArchiveError, readSavedImage, type SavedImage } from "../images/saved-image.js";
import { sendImage } from "../images/send.js";
import { Spool } from "../images/spool.js";
import {
  IMAGE_EVENTS,
  type ImageListReply,
  type ImageProgress,
  type NodeResult,
  parseImageTarget,
} from "../images/wire.js";
import { type ConnectionFlags, connectClient, requiredTreeEndpoint } from "./bus-connection.js";
import type { Row } from "./get-rows.js";
import { LiveProgress, ProgressLines, type ProgressView } from "./image-progress.js";
import { type RowFormat, render } from "./row-output.js";
import { outputOption } from "./shared-options.js";

type PushFlags = ConnectionFlags & { to: string; output: RowFormat; input?: string };

export function registerImage(program: Command): void {
  const image = program.command("image").description("move images through the tree, no registry needed");
  image
    .command("push")
    .description(
      "push an image of this machine's engine (or a docker save archive) into every engine of the target, once per link through the tree",
    )
    .argument("[image]", "image reference or ID on this machine's engine, e.g. myapp:1.4")
    .option(
      "-i, --input <file>",
      "push the image of a `docker save` archive instead (no engine needed on this machine)",
    )
    .option("--to <target>", "node:NAME, tag:TAG or all", "all")
    .option("--node <host:port|url>", "node to push through (default $TREESCALE_NODE)")
    .option("--token <token>", "client token with images:push (default $TREESCALE_TOKEN)")
    .addOption(outputOption(["table", "json", "yaml"] as const, "table"))
    .action(async (reference: string | undefined, flags: PushFlags) => {
      const target = parseImageTarget(flags.to);
      if (typeof target === "string") throw new UsageError(target);
      if (reference === undefined && flags.input === undefined)
        throw new UsageError(
          "name the image to push: a reference on this machine's engine, or a docker save archive with --input",
        );
      if (reference !== undefined && flags.input !== undefined)
        throw new UsageError(
          `push either the image "${reference}" or the archive --input ${flags.input}, not both`,
        );
      const pushed =
        flags.input === undefined ? await fromEngine(reference!) : await fromArchive(flags.input);
      const client = await connectClient(await requiredTreeEndpoint(flags), {
        events: [IMAGE_EVENTS.progress],
      });
      const printer: ProgressView = process.stderr.isTTY
        ? new LiveProgress(pushed.id, process.stderr)
        : new ProgressLines(pushed.id, process.stderr);
      client.onMessage((message) => {
        if (message.event === IMAGE_EVENTS.progress) printer.show(message.json<ImageProgress>());
      });
      // Read only when the node pushed through needs the chunks: it may have the image itself.
      let filling: ReturnType<typeof Spool.fill> | undefined;
      const source = async () => {
        filling ??= pushed.spool();
        return (await filling).spool;
      };
      let results: NodeResult[];
      try {
        const offer = { image: pushed.id, reference: pushed.reference, target, size: pushed.size };
        results = await sendImage(client, client.node, source, offer);
      } finally {
        printer.finish();
        const filled = await filling?.catch(() => undefined);
        await filled?.filled.catch(() => undefined);
        await filled?.spool.remove();
        await client.close();
      }
      const rows: Row[] = results.map((r) => ({ node: r.node, outcome: r.outcome, error: r.error ?? null }));
      process.stdout.write(
        rows.length > 0 ? await render(rows, flags.output) : "no node of the target needs it\n",
      );
      if (results.some((r) => r.outcome === "failed" || r.outcome === "unreachable")) throw new ExitError(1);
    });
}

/** What a push sends: the image's ID and name, its size when known, and its chunks. */
type PushedImage = SavedImage & { spool: () => ReturnType<typeof Spool.fill> };

async function fromEngine(reference: string): Promise<PushedImage> {
  const engine = new DockerImages();
  const id = await engine.imageId(reference);
  if (id === undefined)
    throw new UsageError(
      `image "${reference}" is not on this machine's Docker engine: build or load it first (docker images lists what is there)`,
    );
  const size = (await engine.list()).find((listed) => listed.id === id)?.size ?? 0;
  return {
    id,
    reference,
    size,
    spool: () => Spool.fill(join(tmpdir(), "treescale-push"), id, engine.save(reference)),
  };
}

async function fromArchive(path: string): Promise<PushedImage> {
  try {
    const image = await readSavedImage(path);
    // The archive is the spool: its chunks are read where they lie, not copied.
    return { ...image, spool: () => Spool.overArchive(path, image.id) };
  } catch (error) {
    if (error instanceof ImageArchiveError) throw new UsageError(`--input ${error.message}`);
    throw error;
  }
}

/**
 * `get images`: every node's images by ID, gathered until every node answered (each names its linked
 * children, so the asker knows when none is missing) or `waitMs` passed. A node that did not answer by
 * then is named on stderr: its images are not in the list, which must not read as "it has none".
 */
export async function imageRows(client: BusClient, waitMs: number): Promise<Row[]> {
  const lists = (replies: readonly Message[]) => replies.map((reply) => reply.json<ImageListReply>());
  const listed = lists(
    await client.requestMany(
      IMAGE_EVENTS.list,
      {},
      undefined,
      waitMs,
      undefined,
      (replies) => unlisted(client.node, lists(replies))?.length === 0,
    ),
  );
  const missing = unlisted(client.node, listed);
  const late = `within ${waitMs} ms (--wait)`;
  if (missing === undefined && !listed.some((list) => list.node === client.node))
    process.stderr.write(
      `warning: ${client.node}, the node asked through, did not list its images ${late}: a node below it that did not answer either is not shown\n`,
    );
  for (const { child, parent } of missing ?? [])
    process.stderr.write(
      `warning: ${child} (linked under ${parent}) did not list its images ${late}; they are not shown\n`,
    );
  return listed
    .sort((a, b) => a.node.localeCompare(b.node))
    .flatMap((list) =>
      list.images.map((image) => ({
        node: list.node,
        id: image.id.replace(/^sha256:/, "").slice(0, 12),
        tags: image.tags,
        size: image.size,
      })),
    );
}

/**
 * The linked children whose list has not come, below `self` (the node asked through); undefined while
 * that cannot be known: `self` has not answered, or a node answered without naming its children (one
 * older than this field).
 */
export function unlisted(
  self: string,
  listed: readonly Pick<ImageListReply, "node" | "children">[],
): { child: string; parent: string }[] | undefined {
  const answered = new Set(listed.map((list) => list.node));
  if (!answered.has(self) || listed.some((list) => !Array.isArray(list.children))) return undefined;
  return listed.flatMap((list) =>
    list.children.filter((child) => !answered.has(child)).map((child) => ({ child, parent: list.node })),
  );
}

// Test helpers for the real Docker engine: build the busybox image, and clean up only the
// containers a test labelled for itself.
import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import Docker from "dockerode";

const run = promisify(execFile);
const script = fileURLToPath(new URL("../../scripts/make-busybox-image.sh", import.meta.url));

export const TEST_IMAGE = "local/busybox:1";

export async function ensureTestImage(tag = TEST_IMAGE): Promise<void> {
  await run(script, [tag]);
}

/** Every container carrying the given node label (TreeScale's or a test's own), removed by force. */
export async function removeContainersOfNode(node: string): Promise<void> {
  const docker = new Docker();
  const list = await docker.listContainers({ all: true, filters: { label: [`treescale.node=${node}`] } });
  await Promise.all(
    list.map((c) =>
      docker
        .getContainer(c.Id)
        .remove({ force: true })
        .catch(() => undefined),
    ),
  );
}

/** A unique node name per test file, so parallel files never share containers. */
export function uniqueNodeName(prefix: string): string {
  return `${prefix}${process.pid.toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;
}

/** The engine's container events for one node label between two times (seconds, fractional allowed). */
export async function engineEvents(
  node: string,
  since: number,
  until: number,
): Promise<{ id: string; action: string }[]> {
  const stream = (await new Docker().getEvents({
    since,
    until,
    filters: { type: ["container"], label: [`treescale.node=${node}`] },
  })) as NodeJS.ReadableStream;
  let text = "";
  for await (const chunk of stream) text += chunk.toString();
  return text
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { id: string; Action: string })
    .map((event) => ({ id: event.id, action: event.Action }));
}

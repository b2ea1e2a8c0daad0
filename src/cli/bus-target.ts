// Whether a verb works through the bus: when a node is named (--node, $TREESCALE_NODE), or when
// another process (a `watch`) runs the embedded node — then its agent owns the slice, and going
// around it would have the two fight over the containers.
import { findEmbeddedEndpoint } from "../node/embedded-endpoint.js";
import { treescaleHome } from "../state/last-applied.js";

export async function goesThroughBus(flags: { node?: string; name: string }): Promise<boolean> {
  if (flags.node ?? process.env.TREESCALE_NODE) return true;
  return (await findEmbeddedEndpoint(treescaleHome(), flags.name)) !== undefined;
}

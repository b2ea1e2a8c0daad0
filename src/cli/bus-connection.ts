// How the bus verbs reach a node: --node/--token (or the environment), and connection failures
// worded as something the user can fix.
import { BusClient, BusError } from "../bus/client/index.js";
import { TreescaleError, UsageError } from "../errors.js";

export interface ConnectionFlags {
  node?: string;
  token?: string;
}

/** --node/--token with $TREESCALE_NODE/$TREESCALE_TOKEN as defaults. */
export function connectionFrom(flags: ConnectionFlags): { url: string; token: string | undefined } {
  const url = flags.node ?? process.env.TREESCALE_NODE;
  if (!url)
    throw new UsageError("--node is required (or set TREESCALE_NODE), for example --node 127.0.0.1:7000");
  return { url, token: flags.token ?? process.env.TREESCALE_TOKEN };
}

/** Connection failures the user can fix are reported as such, not as internal errors. */
export async function connectClient(options: Parameters<typeof BusClient.connect>[0]): Promise<BusClient> {
  try {
    return await BusClient.connect(options);
  } catch (error) {
    if (error instanceof BusError && error.code === "bad_url") throw new UsageError(error.message);
    const reason = error instanceof BusError ? `${error.code}: ${error.message}` : (error as Error).message;
    throw new BusCliError(`cannot connect to ${options.url}: ${reason}`, error);
  }
}

export class BusCliError extends TreescaleError {
  constructor(message: string, cause: unknown) {
    super("BUS", message, { cause });
  }
}

// Creating a replica's container when a container of this node's own may still hold its name. The
// engine answers a remove with "removal already in progress" when someone else's `docker rm -f` got
// there first, and the old container keeps its name until that removal is done: a recreate's create
// then finds the name taken by the very container it replaces. A create whose call failed may also
// have left its container behind. Only a container TreeScale labelled for this very replica is
// waited for, adopted or replaced; a name held by anyone else's is never touched.
import { setTimeout as sleep } from "node:timers/promises";
import type { ContainerEngine, CreateContainerRequest } from "../../src/drivers/engine.js";
import { ContainerNameConflictError } from "../../src/drivers/engine-errors.js";
import type { ObservedContainer } from "../../src/model/observed.js";

export type ClaimNameOptions = {
  engine: Pick<ContainerEngine, "create" | "listOwned" | "remove" | "rename">;
  signal: AbortSignal;
  stopTimeoutSeconds: number;
  /** The container this create replaces: never adopted, whatever its labels say. */
  replacing?: string;
  /** Removes a holder of ours, letting the kinds that send it work let go first (the agent's release). */
  removeHolder(id: string): Promise<void>;
  /** How long a removal begun by someone else may take before it is not waited for (default 10 s). */
  removalGraceMs?: number;
  pollMs?: number;
};

const UNUSABLE_STATES = new Set<ObservedContainer["state"]>(["removing", "dead"]);

/**
 * Creates the container and returns its ID, or the ID of a container of ours for this replica and
 * spec that holds the name already (adopted: it is what the create would have made).
 */
export function createClaimingName(
  request: CreateContainerRequest,
  options: ClaimNameOptions,
): Promise<string> {
  return claimName(
    request,
    `create container "${request.name}"`,
    () => options.engine.create(request, { signal: options.signal }),
    true,
    options,
  );
}

/**
 * Renames container `id` to the request's name (a start-first recreate's last step), once a container
 * of ours for this replica that still holds the name (the old one, its removal under way) is gone.
 */
export async function renameClaimingName(
  id: string,
  request: CreateContainerRequest,
  options: ClaimNameOptions,
): Promise<void> {
  await claimName(
    request,
    `rename container ${id.slice(0, 12)} to "${request.name}"`,
    () => options.engine.rename(id, request.name, { signal: options.signal }).then(() => id),
    false,
    options,
  );
}

async function claimName(
  request: CreateContainerRequest,
  doing: string,
  attempt: () => Promise<string>,
  adopt: boolean,
  options: ClaimNameOptions,
): Promise<string> {
  const { engine, signal } = options;
  const graceMs = options.removalGraceMs ?? 10_000;
  const deadline = Date.now() + graceMs;
  let unlisted = false;
  let removedHere = false;
  for (;;) {
    let conflict: ContainerNameConflictError;
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof ContainerNameConflictError)) throw error;
      conflict = error;
    }
    const holder = (await engine.listOwned(request.node, { signal })).find((c) => c.name === request.name);
    if (!holder) {
      // Not ours, or gone since the create: a second try tells which.
      if (unlisted) throw conflict;
      unlisted = true;
      continue;
    }
    if (
      holder.stack !== request.stack ||
      holder.resource !== request.spec.name ||
      holder.replica !== request.replica
    ) {
      throw new ContainerNameConflictError(
        request.name,
        `cannot ${doing}: TreeScale's container ${holder.id.slice(0, 12)} of ` +
          `stack ${holder.stack}, resource ${holder.resource}, replica ${holder.replica} holds the name. ` +
          "Two resources map to one container name: rename one of them.",
        { cause: conflict },
      );
    }
    const usable = !UNUSABLE_STATES.has(holder.state) && holder.id !== options.replacing;
    if (adopt && usable && holder.hash === request.hash) return holder.id;
    const past = Date.now() >= deadline;
    if (removedHere && past) {
      throw new ContainerNameConflictError(
        request.name,
        `cannot ${doing}: TreeScale's own container ${holder.id.slice(0, 12)} ` +
          `(${holder.state}) still holds the name ${Math.round(graceMs / 1000)} s after it was removed; ` +
          "the engine has not finished removing it. Retried; if it stays, check the engine's log.",
        { cause: conflict },
      );
    }
    if ((holder.state === "removing" || removedHere) && !past) {
      // A removal is under way (someone else's, or ours): the name is free once it is done.
      await sleep(options.pollMs ?? 50, undefined, { signal });
      continue;
    }
    await options.removeHolder(holder.id);
    removedHere = true;
  }
}

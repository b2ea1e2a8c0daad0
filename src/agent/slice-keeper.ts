// The slices a node holds, one per stack, on disk and in memory: which offered slice is taken (a
// newer generation, or the very same one again) and which is refused, and why; and the slice each
// stack held before, which a rollout rolls back to. One slice is taken at a time.
import { isDeepStrictEqual } from "node:util";
import { errorMessage } from "../errors.js";
import { type ApplyAnswer, emptySlice, type SliceDocument } from "../model/wire.js";
import { SliceStore } from "../state/stack-files.js";

export class SliceKeeper {
  readonly #slices = new Map<string, SliceDocument>();
  readonly #previous = new Map<string, SliceDocument>();
  #taking: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly home: string,
    private readonly node: string,
  ) {}

  async load(stacks: readonly string[]): Promise<SliceDocument[]> {
    const slices = await Promise.all(
      stacks.map((stack) => new SliceStore(this.home, this.node, stack).read()),
    );
    for (const slice of slices) this.#slices.set(slice.stack, slice);
    return slices;
  }

  slice(stack: string): SliceDocument {
    return this.#slices.get(stack) ?? emptySlice(stack);
  }

  previous(stack: string): SliceDocument {
    return this.#previous.get(stack) ?? emptySlice(stack);
  }

  all(): SliceDocument[] {
    return [...this.#slices.values()];
  }

  /**
   * Takes `document` unless it is older than what is held, or the same generation with other
   * content. `taken` says whether it replaced the held slice (an identical one is accepted, not taken).
   */
  offer(document: SliceDocument, refuseAll?: string): Promise<{ answer: ApplyAnswer; taken: boolean }> {
    const result = this.#taking.then(() => this.#take(document, refuseAll));
    this.#taking = result.catch(() => undefined);
    return result;
  }

  /** Resolves when the slice being taken, if any, is taken. */
  settled(): Promise<unknown> {
    return this.#taking;
  }

  async #take(document: SliceDocument, refuseAll?: string): Promise<{ answer: ApplyAnswer; taken: boolean }> {
    const held = this.slice(document.stack);
    const refuse = (reason: string) => ({
      answer: { accepted: false, generation: held.generation, reason },
      taken: false,
    });
    if (refuseAll !== undefined) return refuse(refuseAll);
    if (document.generation < held.generation)
      return refuse(
        `generation ${document.generation} is older than the ${held.generation} this node holds for stack ${document.stack}`,
      );
    if (document.generation === held.generation) {
      if (isDeepStrictEqual(document, held))
        return { answer: { accepted: true, generation: held.generation }, taken: false };
      return refuse(
        `the offered slice and the slice this node holds are both generation ${held.generation} ` +
          `but differ in ${describeDifference(document, held)}; a changed slice needs a newer generation`,
      );
    }
    const store = new SliceStore(this.home, this.node, document.stack);
    try {
      await store.write(document);
    } catch (error) {
      return refuse(`cannot write ${store.path}: ${errorMessage(error)}; the slice was not taken`);
    }
    this.#previous.set(document.stack, held);
    this.#slices.set(document.stack, document);
    return { answer: { accepted: true, generation: document.generation }, taken: true };
  }
}

/** Which parts of two slices of one generation differ, for the refusal message. */
function describeDifference(offered: SliceDocument, held: SliceDocument): string {
  const parts: string[] = [];
  if (offered.prune !== held.prune) parts.push(`prune ${offered.prune} vs ${held.prune}`);
  const keys = new Set([...Object.keys(offered.resources), ...Object.keys(held.resources)]);
  for (const key of [...keys].sort()) {
    if (!isDeepStrictEqual(offered.resources[key], held.resources[key])) parts.push(key);
  }
  return parts.length > 0 ? parts.join(", ") : "content";
}

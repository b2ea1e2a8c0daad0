// Sends one spool to one receiving node: offer, then chunks with at most CHUNK_CREDIT unacknowledged,
// then the end, whose answer is the outcome for every node of the receiver's subtree. A failed chunk
// (refused, lost with its link, timed out) makes the sender wait, offer again and go on from the chunk
// the receiver confirmed; it gives up only after a whole minute without progress. A whole stream the
// receiver refused (its digest did not match) is sent again from the start, at most STREAM_ATTEMPTS times.
// A source that cannot be read (the image left its engine, the save failed) ends the send at once:
// offering again would read the same failed source.
import { RequestHandlerError } from "../bus/client/errors.js";
import type { Message, Payload } from "../bus/message.js";
import type { Target } from "../bus/protocol/index.js";
import { errorMessage, TreescaleError } from "../errors.js";
import type { Spool } from "./spool.js";
import {
  CHUNK_CREDIT,
  type EndReply,
  IMAGE_EVENTS,
  type ImageEnd,
  type ImageOffer,
  type NodeResult,
  type OfferReply,
} from "./wire.js";

/** What the image code needs of the bus: a node's in-process bus and a client both have it. */
export interface ImageBus {
  request(event: string, target: Target, payload?: Payload, timeoutMs?: number): Promise<Message>;
}

export type SendTimeouts = {
  /** An offer's answer waits for the receiver's children's answers. */
  offerMs: number;
  chunkMs: number;
  /** The end's answer waits for the subtree's loads. */
  endMs: number;
  /** No chunk confirmed for this long: the receiver's subtree is reported failed. */
  giveUpMs: number;
};

export const SEND_TIMEOUTS: SendTimeouts = {
  offerMs: 20_000,
  // Short: a chunk lost with its link is noticed by this timeout, and only costs a resume.
  chunkMs: 5000,
  endMs: 15 * 60_000,
  giveUpMs: 60_000,
};

export type SendHooks = {
  /** The receiver's answer to each offer (the first, and one after every resume). */
  onOffer?: (reply: OfferReply) => void;
  /** A chunk the receiver confirmed. */
  onConfirmed?: (index: number) => void;
  sleep?: (ms: number) => Promise<void>;
  /** Stops sending (the transfer this forwards was dropped): resolves with no results. */
  signal?: AbortSignal;
  /**
   * The link to the receiver as of now, aborted once it is lost: what is in flight on it will get no
   * answer, so the sender offers again at once instead of waiting out each request's deadline.
   */
  link?: () => AbortSignal;
};

/** The image could not be read where this send takes it from. */
export class SourceFailedError extends TreescaleError {
  constructor(cause: unknown) {
    super("IMAGE_SOURCE_FAILED", `the image could not be read at its source: ${errorMessage(cause)}`, {
      cause,
    });
  }
}

/** The link to the receiver went down while a request on it waited for its answer. */
class LinkLostError extends TreescaleError {
  constructor(receiver: string) {
    super("LINK_LOST", `the link to ${receiver} was lost`);
  }
}

/** The code of a receiver's refusal of a whole stream: its chunks are discarded, send them all again. */
export const STREAM_REFUSED = "STREAM_REFUSED";
/** Times a whole stream is sent before the receiver's subtree is reported failed. */
const STREAM_ATTEMPTS = 3;

/**
 * Where the chunks come from, asked for only once the receiver said it needs them: a sender whose
 * receiver can supply itself (its engine has the image) never reads its own engine's image.
 */
export type SpoolSource = () => Promise<Spool>;

export async function sendImage(
  bus: ImageBus,
  receiver: string,
  source: SpoolSource,
  offer: ImageOffer,
  timeouts: SendTimeouts = SEND_TIMEOUTS,
  hooks: SendHooks = {},
): Promise<NodeResult[]> {
  const sleep = hooks.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  let progressAt = Date.now();
  let lastReply: OfferReply | undefined;
  let refusals = 0;
  for (let attempt = 0; ; attempt++) {
    if (hooks.signal?.aborted) return [];
    const link = hooks.link?.();
    const request: ImageBus["request"] = (event, target, payload, timeoutMs) =>
      whileLinked(bus.request(event, target, payload, timeoutMs), link, receiver);
    try {
      const reply = (
        await request(IMAGE_EVENTS.offer, { node: receiver }, JSON.stringify(offer), timeouts.offerMs)
      ).json<OfferReply>();
      lastReply = reply;
      hooks.onOffer?.(reply);
      const settled = [
        ...reply.had.map((node): NodeResult => ({ node, outcome: "had" })),
        ...reply.unreachable.map(
          ({ node, reason }): NodeResult => ({ node, outcome: "unreachable", error: reason }),
        ),
      ];
      if (!reply.need && reply.loading.length === 0) return settled;
      let end: ImageEnd = { image: offer.image, chunks: 0, bytes: 0, sha256: "" };
      if (reply.need) {
        const spool = await source().catch((error: unknown) => {
          throw new SourceFailedError(error);
        });
        await sendChunks(request, receiver, spool, reply.confirmed, timeouts.chunkMs, (index) => {
          progressAt = Date.now();
          hooks.onConfirmed?.(index);
        });
        end = spool.end ?? end;
      }
      const answer = await request(IMAGE_EVENTS.end, { node: receiver }, JSON.stringify(end), timeouts.endMs);
      return [...settled, ...answer.json<EndReply>().results];
    } catch (error) {
      if (hooks.signal?.aborted) return [];
      const refused = error instanceof RequestHandlerError && error.handlerCode === STREAM_REFUSED;
      if (refused) refusals++;
      const why =
        error instanceof SourceFailedError
          ? error.message
          : refusals >= STREAM_ATTEMPTS
            ? `the stream was refused ${refusals} times: ${errorMessage(error)}`
            : Date.now() - progressAt > timeouts.giveUpMs
              ? `no progress for ${Math.round(timeouts.giveUpMs / 1000)} s: ${errorMessage(error)}`
              : undefined;
      if (why !== undefined) {
        const nodes = lastReply?.loading.length ? lastReply.loading : [receiver];
        return nodes.map((node) => ({ node, outcome: "failed", error: why }));
      }
      // Capped low: an offer is one small request, and a restarted node should not wait long for it.
      await sleep(Math.min(1000, 250 * 2 ** Math.min(attempt, 2)));
    }
  }
}

/** `answer`, unless the link it travels on is lost first. */
function whileLinked<T>(answer: Promise<T>, link: AbortSignal | undefined, receiver: string): Promise<T> {
  if (!link) return answer;
  if (link.aborted) {
    // Its late failure (the request's own deadline) is nobody's to handle any more.
    answer.catch(() => undefined);
    return Promise.reject(new LinkLostError(receiver));
  }
  return new Promise<T>((resolve, reject) => {
    const lost = () => reject(new LinkLostError(receiver));
    link.addEventListener("abort", lost, { once: true });
    answer.then(resolve, reject).finally(() => link.removeEventListener("abort", lost));
  });
}

async function sendChunks(
  request: ImageBus["request"],
  receiver: string,
  spool: Spool,
  from: number,
  timeoutMs: number,
  confirmed: (index: number) => void,
): Promise<void> {
  const inflight = new Set<Promise<void>>();
  let failure: unknown;
  const read = <T>(reading: Promise<T>) =>
    reading.catch((error: unknown) => {
      throw new SourceFailedError(error);
    });
  for (let index = from; await read(spool.waitFor(index)); index++) {
    while (inflight.size >= CHUNK_CREDIT) await Promise.race(inflight);
    if (failure !== undefined) break;
    const { payload } = await read(spool.encoded(index));
    const sent: Promise<void> = request(IMAGE_EVENTS.chunk, { node: receiver }, payload, timeoutMs)
      .then(
        () => confirmed(index),
        (error: unknown) => {
          failure ??= error;
        },
      )
      .finally(() => inflight.delete(sent));
    inflight.add(sent);
  }
  await Promise.all(inflight);
  if (failure !== undefined) throw failure;
}

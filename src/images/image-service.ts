// A node's part in moving images down the tree: it answers offers (asking its children first, so the
// sender learns once whether anything below needs the image), takes verified chunks onto its disk,
// loads them into its engine while they arrive, forwards them to the children that need them, and
// answers fetches from below (image_source = "tree"). A node whose engine has the image already is sent
// nothing: it supplies its children from its own engine.
import { join } from "node:path";
import type { Message, Payload } from "../bus/message.js";
import type { Target } from "../bus/protocol/index.js";
import type { ImageEngine } from "../drivers/docker-images.js";
import { errorMessage, ImageUnavailableError } from "../errors.js";
import { TransferMeter } from "./meter.js";
import { type ImageBus, SEND_TIMEOUTS, type SendTimeouts, STREAM_REFUSED, sendImage } from "./send.js";
import { ChunkRefusedError, SOURCES_DIR, Spool, sweepSpools } from "./spool.js";
import {
  decodeChunk,
  type EndReply,
  type FetchReply,
  type FetchRequest,
  IMAGE_EVENTS,
  type ImageEnd,
  type ImageListReply,
  type ImageOffer,
  type ImageProgress,
  type NodeResult,
  type OfferReply,
  targetIncludes,
} from "./wire.js";

export interface ImageServiceBus extends ImageBus {
  handle(event: string, handler: (request: Message) => Payload | Promise<Payload>): () => void;
  publish(event: string, payload?: Payload, target?: Target): void;
}

export type ImageServiceOptions = {
  name: string;
  tags: readonly string[];
  bus: ImageServiceBus;
  engine: ImageEngine;
  /** Where spools live ($TREESCALE_HOME/images). */
  dir: string;
  /** The children linked now. */
  children: () => string[];
  parent: () => string | undefined;
  timeouts?: SendTimeouts;
  /** A reception with no chunk for this long is dropped (its files stay, for a resume). */
  idleMs?: number;
  log?: (line: string) => void;
};

/** Progress is published at most this often per node and transfer. */
const PROGRESS_EVERY_MS = 500;
/** A child's answer to an offer; the offer's own deadline is longer, for the levels below. */
const CHILD_OFFER_MS = 8000;

type Reception = {
  offer: ImageOffer;
  spool: Spool;
  /** This node loads the image into its engine. */
  loads: boolean;
  /** This node's engine has the image: it fills the spool itself, from docker save. */
  sourcing: boolean;
  reply: OfferReply;
  /** Every outcome of this subtree, once known. */
  results: Promise<NodeResult[]>;
  meter: TransferMeter;
  phase: ImageProgress["phase"];
  publishedAt: number;
  idle: NodeJS.Timeout;
  /** Aborted when the transfer is dropped: its forwarders stop. */
  dropped: AbortController;
};

export class ImageService {
  readonly #receptions = new Map<string, Reception>();
  readonly #offering = new Map<string, Promise<OfferReply>>();
  readonly #stops: (() => void)[] = [];
  readonly #timeouts: SendTimeouts;
  /** Per child, aborted when its link goes down: the requests in flight to it get no answer. */
  readonly #links = new Map<string, AbortController>();

  constructor(private readonly options: ImageServiceOptions) {
    this.#timeouts = options.timeouts ?? SEND_TIMEOUTS;
  }

  get #idleMs(): number {
    return this.options.idleMs ?? 5 * 60_000;
  }

  start(): void {
    const { bus } = this.options;
    // What a transfer left behind and nobody will resume: a restart resumes within the idle limit.
    void sweepSpools(this.options.dir, this.#idleMs, Date.now()).catch((error: unknown) =>
      this.options.log?.(`images: cannot clean ${this.options.dir}: ${errorMessage(error)}`),
    );
    this.#stops.push(
      bus.handle(IMAGE_EVENTS.offer, async (request) =>
        JSON.stringify(await this.#offered(request.json<ImageOffer>())),
      ),
      bus.handle(IMAGE_EVENTS.chunk, async (request) => {
        await this.#chunk(request.data);
        return "{}";
      }),
      bus.handle(IMAGE_EVENTS.end, async (request) =>
        JSON.stringify(await this.#ended(request.json<ImageEnd>())),
      ),
      bus.handle(IMAGE_EVENTS.list, async () => {
        const reply: ImageListReply = {
          node: this.options.name,
          images: await this.options.engine.list(),
          children: this.options.children(),
        };
        return JSON.stringify(reply);
      }),
      bus.handle(IMAGE_EVENTS.fetch, async (request) =>
        JSON.stringify(await this.fetch(request.json<FetchRequest>())),
      ),
    );
  }

  /** A child's link went down: sends to it stop waiting for answers that cannot come, and offer again. */
  childDown(child: string): void {
    this.#links.get(child)?.abort();
    this.#links.delete(child);
  }

  #link(child: string): AbortSignal {
    let link = this.#links.get(child);
    if (!link) {
      link = new AbortController();
      this.#links.set(child, link);
    }
    return link.signal;
  }

  stop(): void {
    for (const stop of this.#stops.splice(0)) stop();
    for (const reception of this.#receptions.values())
      void this.#drop(reception, new Error("the node is stopping"), "keep");
  }

  #offered(offer: ImageOffer): Promise<OfferReply> {
    const known = this.#receptions.get(offer.image);
    if (known) return Promise.resolve({ ...known.reply, confirmed: known.spool.count });
    // A sender's retry may offer again while the first offer still asks the children.
    let answering = this.#offering.get(offer.image);
    if (!answering) {
      answering = this.#open(offer).finally(() => this.#offering.delete(offer.image));
      this.#offering.set(offer.image, answering);
    }
    return answering;
  }

  async #open(offer: ImageOffer): Promise<OfferReply> {
    const { name, tags, engine } = this.options;
    const [has, answers] = await Promise.all([
      engine.imageId(offer.image).then((id) => id !== undefined),
      this.#askChildren(offer),
    ]);
    const targeted = targetIncludes(offer.target, name, tags);
    // Had under another name (another tag of the same build): it must answer to the name pushed too.
    if (targeted && has) await engine.tag(offer.image, offer.reference);
    const loads = targeted && !has;
    const needing = answers.filter(
      (a): a is { child: string; reply: OfferReply } =>
        "reply" in a && (a.reply.need || a.reply.loading.length > 0),
    );
    const reply: OfferReply = {
      node: name,
      need: (loads || needing.length > 0) && !has,
      confirmed: 0,
      loading: [...(loads ? [name] : []), ...needing.flatMap((a) => a.reply.loading)],
      had: [...(targeted && has ? [name] : []), ...answers.flatMap((a) => ("reply" in a ? a.reply.had : []))],
      unreachable: answers.flatMap((a) =>
        "reason" in a ? [{ node: a.child, reason: a.reason }] : a.reply.unreachable,
      ),
    };
    if (needing.length === 0 && !loads) return reply;
    const spool = has
      ? await this.#fill(offer.image, offer.reference)
      : await Spool.open(this.options.dir, offer.image);
    reply.confirmed = spool.count;
    const reception: Reception = {
      offer,
      spool,
      loads,
      sourcing: has,
      reply,
      results: Promise.resolve([]),
      meter: new TransferMeter(offer.size, Date.now(), spool.bytes),
      phase: "receiving",
      publishedAt: 0,
      idle: setTimeout(
        () => void this.#drop(reception, new Error("no chunk for too long"), "discard"),
        this.#idleMs,
      ),
      dropped: new AbortController(),
    };
    reception.idle.unref();
    const children = needing.map((a) => a.child);
    // Progress below keeps a transfer alive too: a node supplying its children receives no chunks itself.
    const forwards = children.map((child) =>
      sendImage(this.options.bus, child, async () => spool, offer, this.#timeouts, {
        onConfirmed: () => reception.idle.refresh(),
        signal: reception.dropped.signal,
        link: () => this.#link(child),
      }),
    );
    const own = loads ? this.#load(reception) : Promise.resolve([]);
    reception.results = Promise.all([own, ...forwards]).then((lists) => lists.flat());
    this.#receptions.set(offer.image, reception);
    if (loads) this.#progress(reception, true);
    return reply;
  }

  async #askChildren(
    offer: ImageOffer,
  ): Promise<({ child: string; reply: OfferReply } | { child: string; reason: string })[]> {
    return Promise.all(
      this.options.children().map(async (child) => {
        try {
          const answer = await this.options.bus.request(
            IMAGE_EVENTS.offer,
            { node: child },
            JSON.stringify(offer),
            CHILD_OFFER_MS,
          );
          return { child, reply: answer.json<OfferReply>() };
        } catch (error) {
          return { child, reason: `did not answer the offer: ${errorMessage(error)}` };
        }
      }),
    );
  }

  async #load(reception: Reception): Promise<NodeResult[]> {
    const { name, engine } = this.options;
    try {
      await engine.load(reception.spool.stream());
      if ((await engine.imageId(reception.offer.image)) === undefined)
        throw new Error(`the engine loaded the stream but has no image ${reception.offer.image}`);
      // A stream saved by ID (its name meant another image where it was saved) carries no name.
      await engine.tag(reception.offer.image, reception.offer.reference);
      reception.phase = "loaded";
      this.#progress(reception, true);
      return [{ node: name, outcome: "loaded" }];
    } catch (error) {
      // A dropped transfer's load is cut on purpose: it is not this node's outcome.
      if (reception.dropped.signal.aborted) return [];
      reception.phase = "failed";
      this.#progress(reception, true, errorMessage(error));
      return [{ node: name, outcome: "failed", error: errorMessage(error) }];
    }
  }

  async #chunk(payload: Uint8Array): Promise<void> {
    const { header, data } = decodeChunk(payload);
    const reception = this.#receptions.get(header.image);
    if (!reception || reception.sourcing)
      throw new Error(`no transfer of ${header.image} is open on ${this.options.name}: offer it first`);
    await reception.spool.append(header.index, data, header.sha256, payload);
    reception.idle.refresh();
    reception.meter.record(Date.now(), reception.spool.bytes);
    this.#progress(reception, false);
  }

  async #ended(end: ImageEnd): Promise<EndReply> {
    const reception = this.#receptions.get(end.image);
    if (!reception)
      throw new Error(`no transfer of ${end.image} is open on ${this.options.name}: offer it again`);
    if (!reception.sourcing) {
      // Every chunk matched its own hash, but together they are not the stream sent: all of them go.
      const mismatch = reception.spool.mismatch(end);
      if (mismatch !== undefined) {
        const refused = new ChunkRefusedError(STREAM_REFUSED, `${mismatch}: refused, send it again`);
        await this.#drop(reception, refused, "discard");
        throw refused;
      }
      reception.spool.finish(end);
    }
    if (reception.loads) {
      reception.phase = "loading";
      this.#progress(reception, true);
    }
    const results = await reception.results;
    clearTimeout(reception.idle);
    this.#receptions.delete(end.image);
    await reception.spool.remove();
    return { results };
  }

  /** Ends a transfer: its load is cut, its forwarders stop; its files are kept for a resume, or discarded. */
  async #drop(reception: Reception, why: Error, files: "keep" | "discard"): Promise<void> {
    clearTimeout(reception.idle);
    if (this.#receptions.get(reception.offer.image) !== reception) return;
    this.#receptions.delete(reception.offer.image);
    reception.dropped.abort();
    reception.spool.fail(why);
    this.options.log?.(`image ${reception.offer.reference}: transfer dropped: ${why.message}`);
    await (files === "keep" ? reception.spool.close() : reception.spool.remove()).catch(() => undefined);
  }

  #progress(reception: Reception, always: boolean, error?: string): void {
    if (!reception.loads) return;
    const now = Date.now();
    if (!always && now - reception.publishedAt < PROGRESS_EVERY_MS) return;
    reception.publishedAt = now;
    const { meter } = reception;
    const eta = meter.etaSeconds;
    const progress: ImageProgress = {
      image: reception.offer.image,
      reference: reception.offer.reference,
      node: this.options.name,
      phase: reception.phase,
      bytes: meter.bytes,
      total: Math.max(meter.total, reception.spool.end?.bytes ?? 0),
      bytesPerSecond: Math.round(meter.bytesPerSecond),
      ...(eta !== undefined && reception.phase === "receiving" ? { etaSeconds: Math.round(eta) } : {}),
      resumedFrom: reception.spool.resumedFrom,
      ...(error !== undefined ? { error } : {}),
    };
    this.options.bus.publish(IMAGE_EVENTS.progress, JSON.stringify(progress));
  }

  /**
   * A spool filled from this node's engine. Saved by its name when the name still means this image,
   * so that the engines loading it get the name too (a save by ID carries none).
   */
  async #fill(image: string, reference: string): Promise<Spool> {
    const { engine } = this.options;
    const byName = (await engine.imageId(reference)) === image;
    return (
      await Spool.fill(join(this.options.dir, SOURCES_DIR), image, engine.save(byName ? reference : image))
    ).spool;
  }

  /**
   * Makes `reference` present on node `request.for` below this one: pushed from this node's engine when
   * it has it, else fetched from the parent (which does the same), the image passing through here.
   */
  async fetch(request: FetchRequest): Promise<FetchReply> {
    const { engine, bus } = this.options;
    const image = await engine.imageId(request.reference);
    if (image === undefined) {
      const parent = this.options.parent();
      if (parent === undefined)
        throw new ImageUnavailableError(
          request.reference,
          `image "${request.reference}" is on no engine from ${request.for} up to the root ${this.options.name}: push it with treescale image push`,
        );
      const answer = await bus.request(
        IMAGE_EVENTS.fetch,
        { node: parent },
        JSON.stringify(request),
        this.#timeouts.endMs,
      );
      return answer.json<FetchReply>();
    }
    if (request.for === this.options.name) return { image, results: [{ node: request.for, outcome: "had" }] };
    const offer: ImageOffer = {
      image,
      reference: request.reference,
      target: { type: "node", name: request.for },
      size: 0,
    };
    // Saved from the engine only once a child said it needs the chunks, and once for all of them.
    let filling: Promise<Spool> | undefined;
    const source = () => {
      filling ??= this.#fill(image, request.reference);
      return filling;
    };
    try {
      const results = await Promise.all(
        this.options
          .children()
          .map((child) =>
            sendImage(bus, child, source, offer, this.#timeouts, { link: () => this.#link(child) }),
          ),
      );
      return { image, results: results.flat() };
    } finally {
      await filling?.then((spool) => spool.remove()).catch(() => undefined);
    }
  }
}

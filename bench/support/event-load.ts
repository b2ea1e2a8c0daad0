// A steady stream of numbered events from a client of one node to a client of another, counted at
// both ends, so that a soak can say how many were lost, duplicated or reordered on the way.
import { BusClient } from "../../src/bus/client/index.js";

const EVENT = "soak.load";
const SYNC = "soak.sync";
const TICK_MS = 20;

export type EventCounts = { sent: number; received: number; duplicates: number; reordered: number };

export class EventLoad {
  readonly #publisher: BusClient;
  readonly #subscriber: BusClient;
  readonly #perSecond: number;
  /** One flag per sequence number seen, grown as needed: duplicates are told apart from new ones. */
  #seen = new Uint8Array(1 << 16);
  #sent = 0;
  #received = 0;
  #duplicates = 0;
  #reordered = 0;
  #highest = -1;
  #timer: ReturnType<typeof setInterval> | undefined;

  private constructor(publisher: BusClient, subscriber: BusClient, perSecond: number) {
    this.#publisher = publisher;
    this.#subscriber = subscriber;
    this.#perSecond = perSecond;
  }

  /** Connects both clients; resolves once the subscriber's interest has reached the publisher's node. */
  static async open(options: {
    publishUrl: string;
    subscribeUrl: string;
    token: string;
    perSecond: number;
  }): Promise<EventLoad> {
    const subscriber = await BusClient.connect({
      url: options.subscribeUrl,
      token: options.token,
      events: [EVENT, SYNC],
    });
    const publisher = await BusClient.connect({ url: options.publishUrl, token: options.token, events: [] });
    const load = new EventLoad(publisher, subscriber, options.perSecond);
    let synced = false;
    subscriber.onMessage((message) => {
      if (message.event === SYNC) synced = true;
      else load.#receive(Number(message.text()));
    });
    const deadline = Date.now() + 15_000;
    while (!synced) {
      if (Date.now() > deadline) {
        await load.close();
        throw new Error(`the subscriber on ${subscriber.node} did not hear ${publisher.node} within 15 s`);
      }
      publisher.publish(SYNC);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    return load;
  }

  get counts(): EventCounts {
    return {
      sent: this.#sent,
      received: this.#received,
      duplicates: this.#duplicates,
      reordered: this.#reordered,
    };
  }

  /** Publishes at the rate, catching up after a late timer so the average holds. */
  start(): void {
    const startedAt = performance.now();
    this.#timer = setInterval(() => {
      const due = Math.floor(((performance.now() - startedAt) * this.#perSecond) / 1000);
      while (this.#sent < due) this.#publisher.publish(EVENT, String(this.#sent++));
    }, TICK_MS);
  }

  /** Stops publishing, flushes, and waits for the subscriber to catch up (at most `timeoutMs`). */
  async drain(timeoutMs: number): Promise<void> {
    clearInterval(this.#timer);
    await this.#publisher.flush().catch(() => undefined);
    const deadline = Date.now() + timeoutMs;
    while (this.#received < this.#sent && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await Promise.all([this.#publisher.close(), this.#subscriber.close()]);
  }

  #receive(sequence: number): void {
    if (!Number.isInteger(sequence) || sequence < 0) return;
    while (sequence >= this.#seen.length) {
      const grown = new Uint8Array(this.#seen.length * 2);
      grown.set(this.#seen);
      this.#seen = grown;
    }
    if (this.#seen[sequence] === 1) {
      this.#duplicates++;
      return;
    }
    this.#seen[sequence] = 1;
    this.#received++;
    if (sequence < this.#highest) this.#reordered++;
    else this.#highest = sequence;
  }
}

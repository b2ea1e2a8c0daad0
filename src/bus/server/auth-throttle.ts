// Failed authentications per source address, as a token bucket: a burst of failures is allowed, then a
// few per second. An attempt takes a token before its check (so that checks in flight at once are bounded
// too) and gives it back when it succeeds; an address with no token left is refused without a check, so
// guessing tokens (or flooding the auth hook) from one address runs at the bucket's rate at most.

interface Bucket {
  tokens: number;
  at: number;
}

/** Addresses remembered at most; full buckets are forgotten first, as they hold no information. */
const MAX_ADDRESSES = 10_000;

export class AuthThrottle {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly burst: number,
    private readonly perSecond: number,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Takes a token for one attempt from `address`. Returns 0 when the attempt may be checked, otherwise
   * the milliseconds until the next one may.
   */
  take(address: string): number {
    const bucket = this.refill(address);
    if (bucket.tokens < 1) return Math.ceil(((1 - bucket.tokens) / this.perSecond) * 1000);
    bucket.tokens -= 1;
    return 0;
  }

  /** The attempt succeeded: its token is given back. */
  succeeded(address: string): void {
    const bucket = this.buckets.get(address);
    if (!bucket) return;
    bucket.tokens = Math.min(this.burst, bucket.tokens + 1);
    if (bucket.tokens >= this.burst) this.buckets.delete(address);
  }

  private refill(address: string): Bucket {
    const now = this.now();
    let bucket = this.buckets.get(address);
    if (!bucket) {
      if (this.buckets.size >= MAX_ADDRESSES) this.forgetFull(now);
      bucket = { tokens: this.burst, at: now };
      this.buckets.set(address, bucket);
      return bucket;
    }
    bucket.tokens = Math.min(this.burst, bucket.tokens + ((now - bucket.at) / 1000) * this.perSecond);
    bucket.at = now;
    return bucket;
  }

  /** Drops the buckets that have refilled; if none has, the oldest, so that memory stays bounded. */
  private forgetFull(now: number): void {
    for (const [address, bucket] of this.buckets) {
      if (bucket.tokens + ((now - bucket.at) / 1000) * this.perSecond >= this.burst)
        this.buckets.delete(address);
    }
    if (this.buckets.size >= MAX_ADDRESSES) {
      const oldest = this.buckets.keys().next().value;
      if (oldest !== undefined) this.buckets.delete(oldest);
    }
  }
}

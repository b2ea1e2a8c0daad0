// Reads of a plain TCP socket through net's `onread` instead of the stream layer's 'data' events: no
// Readable bookkeeping per chunk, and small reads share a slab instead of one allocation each. A slab is
// never written twice: frames are forwarded as views of the chunk they arrived in and payloads reach
// subscribers as views, so read bytes must stay as they are for as long as anyone holds them (a buffer
// reused for every read would overwrite them). A slab whose tail is too short for the next read is left
// to the garbage collector.

/** Small reads (most frames) take slices of a slab this large: one allocation per many reads. */
const SLAB_BYTES = 16 * 1024;
/** The read size offered, between these: doubled while reads fill it, halved while they use little of it. */
const MIN_READ_BYTES = 4 * 1024;
const MAX_READ_BYTES = 64 * 1024;

export class SlabReads {
  private readBytes = MIN_READ_BYTES;
  private slab = new Uint8Array(SLAB_BYTES);
  private used = 0;
  private listener: ((chunk: Uint8Array) => void) | undefined;
  /** Chunks read before anyone listens: the socket reads from the moment it connects. */
  private early: Uint8Array[] = [];

  /** The socket's `onread` option. */
  readonly onread = {
    buffer: (): Uint8Array => this.nextBuffer(),
    // true: reading goes on; back-pressure pauses the socket itself, as with 'data' events.
    callback: (bytes: number, buffer: Uint8Array): boolean => {
      this.received(bytes, buffer);
      return true;
    },
  };

  onData(listener: (chunk: Uint8Array) => void): void {
    this.listener = listener;
    for (const chunk of this.early.splice(0)) listener(chunk);
  }

  private nextBuffer(): Uint8Array {
    if (this.slab.length - this.used < this.readBytes) {
      // A read as large as a slab gets a buffer of its own, as the stream layer would give it.
      this.slab = new Uint8Array(Math.max(SLAB_BYTES, this.readBytes));
      this.used = 0;
    }
    return this.slab.subarray(this.used, this.used + this.readBytes);
  }

  private received(bytes: number, buffer: Uint8Array): void {
    this.used += bytes;
    if (bytes === buffer.length) this.readBytes = Math.min(MAX_READ_BYTES, this.readBytes * 2);
    else if (bytes <= this.readBytes / 8) this.readBytes = Math.max(MIN_READ_BYTES, this.readBytes / 2);
    const chunk = buffer.subarray(0, bytes);
    if (this.listener) this.listener(chunk);
    else this.early.push(chunk);
  }
}

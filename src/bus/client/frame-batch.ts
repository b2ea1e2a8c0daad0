// The client's output: frames are written straight into a slab, and a flush hands the written region to
// the transport as one view. The region after it stays writable for the next batch, so publishing allocates
// nothing per frame and copies each payload once. Browser-safe.

const SLAB_BYTES = 256 * 1024;
/** A slab that filled up is followed by a larger one, so that a big batch goes out in few writes. */
const MAX_SLAB_BYTES = 4 * 1024 * 1024;

export class FrameBatch {
  private slab = new Uint8Array(SLAB_BYTES);
  /** Start of the region not yet taken, and the end of what is written. */
  private start = 0;
  private end = 0;
  /** Regions of earlier slabs that filled up before the flush. */
  private full: Uint8Array[] = [];
  private fullBytes = 0;

  /** Bytes written and not yet taken. */
  get bytes(): number {
    return this.fullBytes + this.end - this.start;
  }

  /** Returns the slab to write `bytes` into at `this.offset`; call commit(bytes) after writing. */
  reserve(bytes: number): Uint8Array {
    if (this.end + bytes > this.slab.length) {
      const pending = this.end - this.start;
      if (pending > 0) {
        this.full.push(this.slab.subarray(this.start, this.end));
        this.fullBytes += pending;
      }
      this.slab = new Uint8Array(
        Math.max(bytes, Math.min(MAX_SLAB_BYTES, Math.max(SLAB_BYTES, 2 * pending))),
      );
      this.start = 0;
      this.end = 0;
    }
    return this.slab;
  }

  get offset(): number {
    return this.end;
  }

  commit(bytes: number): void {
    this.end += bytes;
  }

  append(frame: Uint8Array): void {
    this.reserve(frame.length).set(frame, this.end);
    this.end += frame.length;
  }

  /** Everything written since the last take, in order (usually one view). */
  take(): Uint8Array[] {
    const out = this.full;
    if (this.end > this.start) out.push(this.slab.subarray(this.start, this.end));
    this.start = this.end;
    this.full = [];
    this.fullBytes = 0;
    return out;
  }
}

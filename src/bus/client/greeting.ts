// Tells a TreeScale node's first bytes from another server's (an HTTP server, a database, a TLS listener
// behind a plain URL), so that a wrong --node fails at once with "not a TreeScale node" rather than as a
// frame-size error, or a wait for READY that the handshake deadline has to end.
import { FrameType, PREFIX_BYTES } from "../protocol/index.js";

/** The frames a node may send before READY (READY included). */
const HANDSHAKE_FRAMES: ReadonlySet<number> = new Set([
  FrameType.challenge,
  FrameType.ready,
  FrameType.error,
  FrameType.ping,
]);

/** How much of a foreign server's answer is quoted in the error. */
const QUOTED_BYTES = 60;

/** Judges the first bytes of a connection once at least five arrived; quiet after that. */
export class GreetingCheck {
  private seen = new Uint8Array(0);
  private judged = false;

  constructor(private readonly maxFrameBytes: number) {}

  /** A quote of a foreign server's first bytes, the once enough arrived to tell; else undefined. */
  push(chunk: Uint8Array): string | undefined {
    if (this.judged) return undefined;
    const room = Math.min(chunk.length, QUOTED_BYTES - this.seen.length);
    const seen = new Uint8Array(this.seen.length + room);
    seen.set(this.seen);
    seen.set(chunk.subarray(0, room), this.seen.length);
    this.seen = seen;
    if (seen.length < 5) return undefined;
    this.judged = true;
    return foreignGreeting(seen, this.maxFrameBytes);
  }
}

/**
 * Undefined while `start` (the first bytes received, at least 5 once there) can begin a node's handshake
 * frame; otherwise a printable quote of them for the error message.
 */
export function foreignGreeting(start: Uint8Array, maxFrameBytes: number): string | undefined {
  if (start.length < 5) return undefined;
  const length = new DataView(start.buffer, start.byteOffset, start.byteLength).getUint32(0);
  const plausible =
    length >= PREFIX_BYTES - 4 && length <= maxFrameBytes && HANDSHAKE_FRAMES.has(start[4] ?? 0);
  if (plausible) return undefined;
  const text = new TextDecoder("utf-8", { fatal: false }).decode(start.subarray(0, QUOTED_BYTES));
  // Control characters (line ends included) would break the one-line message.
  const printable = text.replace(/[^\x20-\x7e]+/g, " ").trim();
  return printable.length > 0 ? printable : `${start.length} bytes that are not a TreeScale frame`;
}

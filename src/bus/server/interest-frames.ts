// INTEREST frames of bounded size. A subtree's interest can be far larger than any frame (many clients,
// each within its own limits); sent whole, it would be refused by the other side as too large, the link
// dropped, and the same frame resent on every reconnect. Cut into frames under a budget, it always passes.
import { encodeControl, FrameType, type InterestBody } from "../protocol/index.js";

/** The default budget: far under any frame limit a node runs with (and under the handshake limit). */
export const INTEREST_FRAME_BYTES = 16 * 1024;

const encoder = new TextEncoder();

/** Bytes a key adds to the JSON list: its encoded string and a comma. */
function cost(key: string): number {
  return encoder.encode(JSON.stringify(key)).length + 1;
}

/**
 * The frames carrying `delta`, each at most `budget` bytes (a single key longer than that goes alone).
 * Additions come before removals, as a receiver applies them within one frame.
 */
export function interestFrames(delta: InterestBody, budget = INTEREST_FRAME_BYTES): Uint8Array[] {
  const frames: Uint8Array[] = [];
  // The frame prefix and `{"add":[],"remove":[]}`.
  const empty = 8 + 24;
  let add: string[] = [];
  let remove: string[] = [];
  let bytes = empty;
  const cut = () => {
    frames.push(encodeControl(FrameType.interest, { add, remove }));
    add = [];
    remove = [];
    bytes = empty;
  };
  for (const [list, into] of [
    [delta.add, "add"],
    [delta.remove, "remove"],
  ] as const) {
    for (const key of list) {
      const size = cost(key);
      if (bytes + size > budget && bytes > empty) cut();
      (into === "add" ? add : remove).push(key);
      bytes += size;
    }
  }
  if (add.length > 0 || remove.length > 0) cut();
  return frames;
}

// Image pushes as the page hears them: each node receiving an image publishes `image.progress` (at
// most twice a second while chunks come, once as it loads, once when it ended), and the page keeps
// the last report per node of each image. Pure: the store feeds reports in and gets new records out.
import type { ImageProgress } from "../model/image-progress.js";

export type NodeTransfer = ImageProgress & { heardAt: number };

export type ImagePush = { image: string; reference: string; nodes: NodeTransfer[]; lastAt: number };

/** Pushes kept, newest first. */
export const MAX_PUSHES = 10;
/** A node receiving chunks reports twice a second: this long without a word is said. */
export const SILENT_MS = 5000;

export function withImageProgress(
  pushes: readonly ImagePush[],
  progress: ImageProgress,
  now: number,
): ImagePush[] {
  const found = pushes.find((push) => push.image === progress.image);
  const nodes = [
    ...(found?.nodes.filter((node) => node.node !== progress.node) ?? []),
    { ...progress, heardAt: now },
  ].sort((a, b) => a.node.localeCompare(b.node));
  const push: ImagePush = { image: progress.image, reference: progress.reference, nodes, lastAt: now };
  return [push, ...pushes.filter((p) => p !== found)].slice(0, MAX_PUSHES);
}

/** How much of the image a node has, as a fraction, when the total is known. */
export function fraction(transfer: NodeTransfer): number | undefined {
  if (transfer.phase === "loading" || transfer.phase === "loaded") return 1;
  return transfer.total > 0 ? Math.min(1, transfer.bytes / transfer.total) : undefined;
}

/** "silent for 7 s" for a node that stopped reporting mid-transfer; undefined while it reports. */
export function silence(transfer: NodeTransfer, now: number): string | undefined {
  const quiet = now - transfer.heardAt;
  return transfer.phase === "receiving" && quiet > SILENT_MS
    ? `no report for ${Math.round(quiet / 1000)} s`
    : undefined;
}

export function eta(seconds: number | undefined): string {
  if (seconds === undefined) return "–";
  return seconds < 60 ? `${seconds} s` : `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}

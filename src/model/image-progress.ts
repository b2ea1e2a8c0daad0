// `image.progress`: what a node receiving an image (`treescale image push`, or a fetch for an apply)
// says of it while it comes, as it loads, and when it ended. A contract with its subscribers (the
// CLI's push, the dashboard).

export const IMAGE_PROGRESS_EVENT = "image.progress";

export type ImageProgress = {
  image: string;
  reference: string;
  node: string;
  phase: "receiving" | "loading" | "loaded" | "failed";
  bytes: number;
  /** 0 when not known yet. */
  total: number;
  bytesPerSecond: number;
  /** Seconds left at the current rate; absent when the total or the rate is not known. */
  etaSeconds?: number;
  /** The chunk this node's transfer resumed from (0: from the start). */
  resumedFrom: number;
  error?: string;
};

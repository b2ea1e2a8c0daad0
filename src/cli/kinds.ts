// The kinds a verb works with, handed down from the composition root (main.ts): verbs never
// import a controller themselves.
import type { Controller } from "../reconcile/controller.js";

/** Per-node settings a kind's acting half takes (the embedded node's --parallel, --stop-timeout). */
export type KindOptions = { concurrency?: number; stopTimeoutSeconds?: number };

export type Kinds = (options?: KindOptions) => Controller[];

// The kinds a verb works with, handed down from the composition root (main.ts): verbs never
// import a controller themselves.
import type { Controller } from "../reconcile/controller.js";

/**
 * Settings a kind's acting half takes: the embedded node's --parallel and --stop-timeout, and the
 * node image a build sends (--image).
 */
export type KindOptions = { concurrency?: number; stopTimeoutSeconds?: number; nodeImage?: string };

export type Kinds = (options?: KindOptions) => Controller[];

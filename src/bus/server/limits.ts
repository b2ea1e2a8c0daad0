// What one node grants a connection before it has proved anything, and what one client may declare.
// Every bound here protects the node (and, for interest, every node up to the root) from a peer that
// holds a socket or a token and nothing more; the defaults leave well-behaved clients untouched.

export interface BusLimits {
  /** Longest time from accepting a connection to its READY: CONNECT, and for a client its DECLARE. */
  handshakeTimeoutMs: number;
  /**
   * Largest frame accepted before READY, and largest DECLARE at any time: a client re-sends its whole
   * declaration before READY on every reconnect, so a declaration that fits later must fit then.
   */
  handshakeFrameBytes: number;
  /** Connections not yet ready (no READY sent or received), on the whole node. */
  pendingConnections: number;
  /** Connections not yet ready from one source address. */
  pendingPerAddress: number;
  /** Names one client may declare per kind (events, tags, groups, channels). */
  declaredNames: number;
  /** Interest keys one client's declaration may add to every node up to the root. */
  declaredKeys: number;
  /** Failed authentications one source address may make in a burst... */
  authFailureBurst: number;
  /** ...and how many more per second after it. */
  authFailuresPerSecond: number;
}

export const DEFAULT_LIMITS: Readonly<BusLimits> = {
  handshakeTimeoutMs: 5000,
  handshakeFrameBytes: 32 * 1024,
  pendingConnections: 512,
  pendingPerAddress: 32,
  declaredNames: 256,
  declaredKeys: 4096,
  authFailureBurst: 20,
  authFailuresPerSecond: 2,
};

/** The defaults with what was given; the handshake frame limit never exceeds the frame limit. */
export function resolveLimits(given: Partial<BusLimits> | undefined, maxFrameBytes: number): BusLimits {
  const limits = { ...DEFAULT_LIMITS, ...given };
  limits.handshakeFrameBytes = Math.min(limits.handshakeFrameBytes, maxFrameBytes);
  return limits;
}

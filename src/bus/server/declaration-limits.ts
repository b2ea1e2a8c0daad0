// What one client may declare. A declaration's interest keys reach every node up to the root (one per
// event, plus one per event and membership), so a client could otherwise make a few kilobytes of DECLARE
// into millions of keys held, and advertised, by nodes it has never talked to.
import { type Declaration, ErrorCode, ProtocolError } from "../protocol/index.js";
import type { BusLimits } from "./limits.js";

type Limits = Pick<BusLimits, "declaredNames" | "declaredKeys" | "handshakeFrameBytes">;

/** The number of interest keys a declaration adds (see declarationKeys in routing/interest.ts). */
export function keysInduced(declaration: Declaration): number {
  const members = declaration.tags.length + declaration.groups.length + declaration.channels.length;
  return declaration.events.length * (1 + members);
}

/** Throws ProtocolError declaration_too_large naming the first limit a DECLARE goes over. */
export function checkDeclaration(declaration: Declaration, frameBytes: number, limits: Limits): void {
  const refuse = (message: string): never => {
    throw new ProtocolError(ErrorCode.declarationTooLarge, message);
  };
  if (frameBytes > limits.handshakeFrameBytes) {
    refuse(
      `DECLARE of ${frameBytes} bytes is over the limit of ${limits.handshakeFrameBytes} bytes ` +
        "(the handshake frame limit: a declaration is re-sent before READY on every reconnect)",
    );
  }
  for (const kind of ["events", "tags", "groups", "channels"] as const) {
    const count = declaration[kind].length;
    if (count > limits.declaredNames) {
      refuse(`DECLARE names ${count} ${kind}, over the limit of ${limits.declaredNames} per kind`);
    }
  }
  const keys = keysInduced(declaration);
  if (keys > limits.declaredKeys) {
    refuse(
      `DECLARE would add ${keys} interest keys (events × (1 + tags + groups + channels)), over the limit ` +
        `of ${limits.declaredKeys}: subscribe to fewer events, or carry fewer memberships per connection`,
    );
  }
}

// Admission of a connection until it is ready: a client by token (or auth hook), a child node by the
// cluster-secret challenge (and, when required, its TLS certificate), and our own join to a parent.
// Nothing routes before admission ends; the frames a client sends during its auth check wait here.
import type { BusMetrics } from "../metrics.js";
import {
  decodeControl,
  ErrorCode,
  encodeControl,
  FrameType,
  PROTOCOL_VERSION,
  ProtocolError,
  parseChallenge,
  parseConnect,
  parseProof,
  parseReady,
  type ReadyBody,
} from "../protocol/index.js";
import { type Authenticator, type AuthFailureKind, OPEN_GRANT } from "./auth.js";
import type { AuthThrottle } from "./auth-throttle.js";
import { childProof, createNonce, parentProof, proofsEqual } from "./handshake.js";
import type { Logger } from "./log.js";
import type { Peer } from "./peer.js";

/** Frames a client may send while its token is being checked. */
const MAX_HELD_FRAMES = 64;

export interface AdmissionOptions {
  /** This node's name, sent in the challenge and bound into the proofs. */
  name: string;
  auth: Authenticator;
  clusterSecret?: Uint8Array | undefined;
  requireNodeCertificate?: boolean | undefined;
  /** Failed authentications per source address. */
  throttle: AuthThrottle;
  metrics: BusMetrics;
  log: Logger;
  /** A node link passed the challenge. */
  linkReady(peer: Peer, role: "child" | "parent", ready?: ReadyBody): void;
  /** A client's DECLARE frame: what it receives; it is ready after this. */
  declare(peer: Peer, frame: Uint8Array): void;
  /** Dispatches a frame held during the auth check, once the client is admitted. */
  replay(peer: Peer, frame: Uint8Array): void;
}

export class Admission {
  constructor(private readonly options: AdmissionOptions) {}

  /** Opens our side of the link to a parent: CONNECT with our name and nonce. */
  join(peer: Peer): void {
    const secret = this.options.clusterSecret;
    peer.nonces = { mine: createNonce(), theirs: "" };
    peer.state = "challenged";
    if (!secret) {
      peer.fail(ErrorCode.authFailed, "this node has no cluster secret to join its parent with");
      return;
    }
    peer.send(
      encodeControl(FrameType.connect, {
        protocol: PROTOCOL_VERSION,
        kind: "node",
        name: this.options.name,
        nonce: peer.nonces.mine,
      }),
    );
  }

  /** A frame that arrived while the client's token is checked: kept for after, within a bound. */
  hold(peer: Peer, frame: Uint8Array): void {
    if (peer.held.length >= MAX_HELD_FRAMES) {
      throw new ProtocolError(ErrorCode.notReady, "too many frames before ready");
    }
    peer.held.push(frame);
  }

  /** A handshake frame (or one out of place, which throws a ProtocolError). */
  onFrame(peer: Peer, frame: Uint8Array, type: number): void {
    const secret = this.options.clusterSecret;
    const name = this.options.name;
    if (peer.role === "pending" && peer.state === "connecting" && type === FrameType.connect) {
      const hello = parseConnect(decodeControl(frame));
      if (hello.protocol !== PROTOCOL_VERSION) {
        peer.fail(
          ErrorCode.unsupportedProtocol,
          `protocol version ${hello.protocol} is not spoken here: this node speaks version ${PROTOCOL_VERSION}`,
        );
        return;
      }
      if (!this.mayTry(peer)) return;
      if (hello.kind === "client") {
        peer.state = "authenticating";
        void this.authenticate(peer, hello.token);
        return;
      }
      // Named before any check, so that a refusal is logged with the node it refused.
      peer.name = hello.name ?? "";
      const problem = !peer.wire.carriesNodeLinks
        ? "node links are accepted on the bus listener (--listen) only, not on the WebSocket port"
        : !secret
          ? "this node has no cluster secret configured and accepts no child nodes"
          : this.options.requireNodeCertificate && !peer.wire.authorizedPeer
            ? `child nodes must present a certificate signed by the cluster CA (--tls-ca): ${peer.wire.certificateProblem}`
            : !hello.name || !hello.nonce
              ? "a node must send its name and a nonce"
              : undefined;
      if (problem || !secret || !hello.name || !hello.nonce) {
        this.reject(peer, problem ?? "bad node hello", "node_refused");
        return;
      }
      peer.nonces = { mine: createNonce(), theirs: hello.nonce };
      peer.state = "challenged";
      peer.send(
        encodeControl(FrameType.challenge, {
          name,
          nonce: peer.nonces.mine,
          proof: parentProof(secret, hello.nonce, peer.nonces.mine, name),
        }),
      );
      return;
    }
    if (
      peer.role === "pending" &&
      peer.state === "challenged" &&
      type === FrameType.proof &&
      secret &&
      peer.nonces
    ) {
      const { proof } = parseProof(decodeControl(frame));
      if (!proofsEqual(childProof(secret, peer.nonces.mine, peer.nonces.theirs, peer.name), proof)) {
        this.reject(peer, `node ${peer.name} failed the cluster-secret challenge`, "node_proof");
        return;
      }
      this.options.throttle.succeeded(peer.wire.address);
      this.options.linkReady(peer, "child");
      return;
    }
    if (
      peer.role === "pending" &&
      peer.state === "challenged" &&
      type === FrameType.challenge &&
      secret &&
      peer.nonces
    ) {
      // We are the child: check the parent's proof before proving ourselves.
      const challenge = parseChallenge(decodeControl(frame));
      if (
        !proofsEqual(parentProof(secret, peer.nonces.mine, challenge.nonce, challenge.name), challenge.proof)
      ) {
        peer.fail(ErrorCode.authFailed, "parent failed the cluster-secret challenge");
        this.options.log("error", "parent failed the cluster-secret challenge", { parent: challenge.name });
        return;
      }
      peer.name = challenge.name;
      peer.nonces.theirs = challenge.nonce;
      peer.state = "declaring";
      peer.send(
        encodeControl(FrameType.proof, {
          proof: childProof(secret, challenge.nonce, peer.nonces.mine, name),
        }),
      );
      return;
    }
    if (peer.role === "pending" && peer.state === "declaring" && type === FrameType.ready && peer.nonces) {
      this.options.linkReady(peer, "parent", parseReady(decodeControl(frame)));
      return;
    }
    if (peer.role === "client" && peer.state === "declaring" && type === FrameType.declare) {
      this.options.declare(peer, frame);
      return;
    }
    throw new ProtocolError(
      peer.state === "ready" ? ErrorCode.protocolError : ErrorCode.notReady,
      `unexpected frame type ${type} in state ${peer.state}`,
    );
  }

  /**
   * Whether this address may attempt a handshake now; refuses it (without checking anything) when its
   * failed authentications used up its allowance.
   */
  private mayTry(peer: Peer): boolean {
    const address = peer.wire.address;
    const waitMs = this.options.throttle.take(address);
    if (waitMs === 0) return true;
    this.options.metrics.authThrottled++;
    peer.fail(
      ErrorCode.rateLimited,
      `too many failed authentications from ${address}: retry in ${Math.ceil(waitMs / 1000)} s`,
    );
    return false;
  }

  private reject(peer: Peer, reason: string, kind: AuthFailureKind): void {
    this.options.metrics.authFailed(kind);
    this.options.log("warn", "handshake rejected", {
      remote: peer.remote,
      name: peer.name || undefined,
      reason,
    });
    peer.fail(ErrorCode.authFailed, reason);
  }

  private async authenticate(peer: Peer, token: string | undefined): Promise<void> {
    const result = await this.options.auth.check(token, peer.remote);
    if (!peer.isOpen) return;
    if (!result.ok) {
      this.reject(peer, result.reason, result.kind);
      return;
    }
    this.options.throttle.succeeded(peer.wire.address);
    peer.grant = result.grant ?? OPEN_GRANT;
    peer.role = "client";
    peer.state = "declaring";
    const held = peer.held;
    peer.held = [];
    try {
      for (const frame of held) this.options.replay(peer, frame);
    } catch (error) {
      this.options.metrics.protocolErrors++;
      const code = error instanceof ProtocolError ? error.code : ErrorCode.protocolError;
      peer.fail(code, (error as Error).message);
    }
  }
}

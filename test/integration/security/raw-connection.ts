// A hand-driven bus connection for attacks: raw bytes in, frames out, from a chosen source address
// (127.0.0.2 and up are loopback too on Linux), so that a test plays a peer no real client would be.
import { connect, type Socket } from "node:net";
import {
  decodeControl,
  encodeControl,
  FrameParser,
  FrameType,
  frameType,
  PROTOCOL_VERSION,
} from "../../../src/bus/protocol/index.js";

export interface RawConnection {
  socket: Socket;
  /** Frames received so far (PINGs left out). */
  frames: Uint8Array[];
  /** Resolves with the first frame of `type` received, with a timeout. */
  frame(type: number, timeoutMs?: number): Promise<Uint8Array>;
  /** Resolves when the node closed the connection (or it failed). */
  closed: Promise<void>;
  isClosed(): boolean;
  /** The code of the ERROR frame received, if any. */
  errorCode(): string | undefined;
  write(bytes: Uint8Array): void;
  destroy(): void;
}

export function rawConnection(port: number, localAddress = "127.0.0.1"): RawConnection {
  const socket = connect({ host: "127.0.0.1", port, localAddress });
  const frames: Uint8Array[] = [];
  const waiters = new Set<() => void>();
  let closed = false;
  const parser = new FrameParser({
    maxFrameBytes: 64 * 1024 * 1024,
    onFrame: (frame) => {
      if (frameType(frame) === FrameType.ping) return;
      frames.push(frame.slice());
      for (const waiter of waiters) waiter();
    },
  });
  socket.on("data", (chunk) => parser.push(chunk));
  socket.on("error", () => {});
  const done = new Promise<void>((resolve) =>
    socket.on("close", () => {
      closed = true;
      for (const waiter of waiters) waiter();
      resolve();
    }),
  );
  const find = (type: number) => frames.find((frame) => frameType(frame) === type);
  return {
    socket,
    frames,
    closed: done,
    isClosed: () => closed,
    errorCode: () => {
      const error = find(FrameType.error);
      return error ? (decodeControl(error) as { code: string }).code : undefined;
    },
    frame: (type, timeoutMs = 5000) =>
      new Promise((resolve, reject) => {
        const check = () => {
          const found = find(type);
          if (found) {
            finish();
            resolve(found);
          } else if (closed) {
            finish();
            reject(new Error(`closed before a frame of type ${type}; got types ${frames.map(frameType)}`));
          }
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`no frame of type ${type} within ${timeoutMs} ms`));
        }, timeoutMs);
        const finish = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      }),
    write: (bytes) => {
      if (!socket.destroyed) socket.write(bytes);
    },
    destroy: () => socket.destroy(),
  };
}

/** CONNECT and DECLARE, as a client's first bytes. */
export function clientHello(
  token: string,
  declaration: { events?: string[]; tags?: string[] } = {},
): Uint8Array {
  return Buffer.concat([
    encodeControl(FrameType.connect, { protocol: PROTOCOL_VERSION, kind: "client", token }),
    encodeControl(FrameType.declare, {
      events: declaration.events ?? [],
      tags: declaration.tags ?? [],
      groups: [],
      channels: [],
    }),
  ]);
}

/** The node process's resident memory in KiB, from /proc. */
export async function residentKiB(pid: number | undefined): Promise<number> {
  const { readFile } = await import("node:fs/promises");
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
}

/** One value of the node's Prometheus text, e.g. "treescale_bus_pending_connections". */
export async function metric(httpPort: number | undefined, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${httpPort}/metrics`)).text();
  return Number(new RegExp(`^${name}\\{[^}]*\\} (\\d+)$`, "m").exec(text)?.[1]);
}

/**
 * A WebSocket opened by hand on the node's HTTP port, as an attacker's script would: the upgrade, then
 * whatever bytes the test writes (see `webSocketHeader`). Resolves once the node answered 101.
 */
export async function rawWebSocket(httpPort: number): Promise<{ socket: Socket; closed: Promise<void> }> {
  const socket = connect({ host: "127.0.0.1", port: httpPort });
  socket.on("error", () => {});
  const closed = new Promise<void>((resolve) => socket.on("close", () => resolve()));
  await new Promise((resolve) => socket.once("connect", resolve));
  socket.write(
    "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
  );
  const answer = await new Promise<string>((resolve, reject) => {
    socket.once("data", (chunk: Buffer) => resolve(chunk.toString("latin1")));
    socket.once("close", () => reject(new Error("closed before answering the upgrade")));
  });
  if (!answer.startsWith("HTTP/1.1 101")) throw new Error(`upgrade refused: ${answer.split("\r\n")[0]}`);
  return { socket, closed };
}

/** The header of one masked binary WebSocket frame of `length` bytes, mask key 0 (the payload goes as is). */
export function webSocketHeader(length: number): Buffer {
  const header = Buffer.alloc(14);
  header[0] = 0x82;
  header[1] = 0x80 | 127;
  header.writeBigUInt64BE(BigInt(length), 2);
  return header;
}

// TCP/TLS transport for Node. Imported lazily by the client so that browser bundles never load node:net.
import { connect as connectTcp } from "node:net";
import type { Duplex } from "node:stream";
import { connect as connectTls } from "node:tls";
import { SlabReads } from "../slab-reads.js";
import type { TlsClientOptions, Transport } from "./transport.js";

/** Dials the node; `signal` abandons the dial (the client's connect deadline), destroying the socket. */
export function connectSocket(
  host: string,
  port: number,
  tls?: TlsClientOptions,
  signal?: AbortSignal,
): Promise<Transport> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  const reads = tls ? undefined : new SlabReads();
  const socket = reads
    ? connectTcp({ host, port, onread: reads.onread })
    : connectTls({ ...tls, host, port });
  socket.setNoDelay(true);
  return new Promise((resolve, reject) => {
    const connected = tls ? "secureConnect" : "connect";
    const settle = () => {
      socket.off(connected, onConnect);
      socket.off("error", onError);
      signal?.removeEventListener("abort", onAbort);
    };
    const onConnect = () => {
      settle();
      resolve(socketTransport(socket, reads));
    };
    const onError = (error: Error) => {
      settle();
      socket.destroy();
      reject(error);
    };
    const onAbort = () => onError(signal?.reason);
    socket.on(connected, onConnect);
    socket.on("error", onError);
    signal?.addEventListener("abort", onAbort);
  });
}

const EMPTY = new Uint8Array(0);

/**
 * A transport over a connected byte stream: a TCP or TLS socket, or an in-memory pair in tests. `reads`:
 * where a socket made with `onread` hands its chunks; they come as 'data' otherwise.
 */
export function socketTransport(socket: Duplex, reads?: SlabReads): Transport {
  let failure: Error | undefined;
  socket.on("error", (error) => {
    failure = error;
  });
  return {
    send: (data) => {
      socket.write(data);
    },
    bufferedBytes: () => socket.writableLength,
    drained: () => {
      if (socket.writableLength === 0 || socket.destroyed) return Promise.resolve();
      return new Promise((done) => {
        const finish = () => {
          socket.off("finish", finish);
          socket.off("close", finish);
          done();
        };
        socket.on("close", finish);
        if (socket.writableEnded) {
          socket.on("finish", finish);
          return;
        }
        // "drain" comes only after a write that filled the buffer: an empty write's callback runs once
        // every write before it has been handed to the kernel, however little was waiting.
        socket.write(EMPTY, finish);
      });
    },
    close: () => {
      socket.end();
      // A node that never answers our FIN (a silent or stalled one) must not hold the socket open.
      setTimeout(() => socket.destroy(), 2000).unref();
    },
    onData: (listener) => (reads ? reads.onData(listener) : socket.on("data", listener)),
    onClose: (listener) => socket.on("close", () => listener(failure)),
  };
}

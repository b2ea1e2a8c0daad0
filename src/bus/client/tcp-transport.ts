// TCP/TLS transport for Node. Imported lazily by the client so that browser bundles never load node:net.
import { connect as connectTcp } from "node:net";
import { connect as connectTls } from "node:tls";
import type { TlsClientOptions, Transport } from "./transport.js";

export function connectSocket(host: string, port: number, tls?: TlsClientOptions): Promise<Transport> {
  const socket = tls ? connectTls({ ...tls, host, port }) : connectTcp({ host, port });
  socket.setNoDelay(true);
  return new Promise((resolve, reject) => {
    let open = false;
    let failure: Error | undefined;
    socket.once(tls ? "secureConnect" : "connect", () => {
      open = true;
      resolve({
        send: (data) => {
          socket.write(data);
        },
        bufferedBytes: () => socket.writableLength,
        drained: () =>
          socket.writableLength === 0 || socket.destroyed
            ? Promise.resolve()
            : new Promise((done) => {
                const finish = () => {
                  socket.off("drain", finish);
                  socket.off("close", finish);
                  done();
                };
                socket.on("drain", finish);
                socket.on("close", finish);
              }),
        close: () => socket.end(),
        onData: (listener) => socket.on("data", listener),
        onClose: (listener) => socket.on("close", () => listener(failure)),
      });
    });
    socket.on("error", (error) => {
      failure = error;
      if (!open) reject(error);
    });
  });
}

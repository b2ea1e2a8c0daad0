// A unix-socket proxy in front of the real Docker engine that a test can freeze: while frozen it
// accepts connections and passes nothing either way, as a hung dockerd does. The engine itself, which
// other tests share, is never touched.
import { rm } from "node:fs/promises";
import { connect, createServer, type Server, type Socket } from "node:net";

export type EngineProxy = {
  /** DOCKER_HOST for a process that should reach the engine through the proxy. */
  dockerHost: string;
  freeze(): void;
  thaw(): void;
  close(): Promise<void>;
};

export async function engineProxy(path: string, target = "/var/run/docker.sock"): Promise<EngineProxy> {
  let frozen = false;
  const pairs = new Set<[Socket, Socket]>();
  const server: Server = createServer((client) => {
    const upstream = connect(target);
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    // After pipe(), which starts the flow.
    if (frozen) for (const socket of pair) socket.pause();
    const end = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", end).on("close", end);
    upstream.on("error", end).on("close", end);
  });
  await rm(path, { force: true });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return {
    dockerHost: `unix://${path}`,
    freeze() {
      frozen = true;
      for (const pair of pairs) for (const socket of pair) socket.pause();
    },
    thaw() {
      frozen = false;
      for (const pair of pairs) for (const socket of pair) socket.resume();
    },
    async close() {
      for (const [client, upstream] of pairs) {
        client.destroy();
        upstream.destroy();
      }
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

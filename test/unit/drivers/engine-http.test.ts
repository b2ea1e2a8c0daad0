import { mkdtemp, rm } from "node:fs/promises";
import { createServer, type Server } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { EngineHttpClient } from "../../../src/drivers/engine-http.js";

let dir: string;
let server: Server;
let socketPath: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "treescale-engine-"));
  socketPath = join(dir, "docker.sock");
  // An engine that accepts and never answers: what a hung dockerd looks like from outside.
  server = createServer(() => undefined);
  await new Promise<void>((resolve) => server.listen(socketPath, resolve));
});

afterEach(async () => {
  server.close();
  await rm(dir, { recursive: true, force: true });
});

describe("engine HTTP reads", () => {
  it("give up on a hung engine with ETIMEDOUT instead of hanging", async () => {
    const client = new EngineHttpClient({ kind: "socket", socketPath }, undefined, 200);
    await expect(client.get("/containers/json")).rejects.toMatchObject({
      code: "ETIMEDOUT",
      message: "no answer from the Docker engine within 0.2 s",
    });
  });
});

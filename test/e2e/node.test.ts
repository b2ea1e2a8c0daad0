// `treescale node` failures a user can fix: clear message, exit 2, no half-started process.
import { createServer, type Server } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireBuild, runCli } from "../support/cli.js";

let busy: Server;
let port = 0;

beforeAll(async () => {
  requireBuild();
  busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
  port = (busy.address() as { port: number }).port;
});

afterAll(() => new Promise<void>((resolve) => busy.close(() => resolve())));

describe("treescale node, refused starts", () => {
  it("a port in use: names it, exits 2, and does not linger (the bus listener it opened is closed)", async () => {
    const result = await runCli([
      "node",
      "--name",
      "n",
      "--listen",
      "127.0.0.1:0",
      "--http",
      `127.0.0.1:${port}`,
      "--no-agent",
      "--insecure",
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(`cannot listen on 127.0.0.1:${port}: it is in use`);
  });

  it("an open node on a non-loopback address needs --tokens, --auth-hook or --insecure", async () => {
    const result = await runCli(["node", "--name", "n", "--listen", "0.0.0.0:0", "--no-agent"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("give --tokens FILE or --auth-hook URL");
  });

  it("an agent or an HTTP port needs --tokens, --auth-hook or --insecure on loopback too", async () => {
    const agent = await runCli(["node", "--name", "n", "--listen", "127.0.0.1:0"]);
    expect(agent.code).toBe(2);
    expect(agent.stderr).toContain(
      "runs an agent and would accept anyone who can connect to it, even on loopback",
    );
    const http = await runCli([
      "node",
      "--name",
      "n",
      "--listen",
      "127.0.0.1:0",
      "--http",
      "127.0.0.1:0",
      "--no-agent",
    ]);
    expect(http.code).toBe(2);
    expect(http.stderr).toContain("serves HTTP and would accept anyone");
  });
});

// How the built CLI reaches a node: tls:// with --ca (or $TREESCALE_CA), ws:// and wss://, and a clear,
// prompt failure for a server that accepts and says nothing or that is not a TreeScale node at all.
import { readFile } from "node:fs/promises";
import { createServer as createHttpServer, type Server as HttpServer } from "node:http";
import { createServer as createNetServer, type Server as NetServer, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BusFixture,
  createCertificates,
  inbox,
  type NodeProcess,
  type TestCertificates,
} from "../support/bus.js";
import { type CliResult, runCli } from "../support/cli.js";

const fixture = new BusFixture();
let certs: TestCertificates;
let ca: string;
/** Serves TLS on its bus port and its HTTP port (wss://). */
let tlsNode: NodeProcess;
/** Plain TCP and plain HTTP (ws://). */
let plainNode: NodeProcess;
/** Accepts connections and never says a word. */
let silent: NetServer;
const silentSockets = new Set<Socket>();
/** An ordinary web server. */
let web: HttpServer;

const portOf = (server: NetServer | HttpServer) => (server.address() as { port: number }).port;
const listen = (server: NetServer | HttpServer) =>
  new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
const tlsUrl = (node: NodeProcess) => `tls://127.0.0.1:${node.port}`;

/** Runs the CLI with the fixture's token and measures how long it took to exit. */
async function timedCli(args: string[], env: Record<string, string> = {}) {
  const started = Date.now();
  const result: CliResult = await runCli(args, { env: { TREESCALE_TOKEN: "good-token", ...env } });
  return { ...result, seconds: (Date.now() - started) / 1000 };
}

beforeAll(async () => {
  await fixture.setup();
  certs = await createCertificates(fixture.dir);
  ca = await readFile(certs.caCert, "utf8");
  [tlsNode, plainNode] = await Promise.all([
    fixture.startNode("tls-node", [
      ...["--tls-cert", certs.nodeCert, "--tls-key", certs.nodeKey, "--http", "127.0.0.1:0"],
    ]),
    fixture.startNode("plain-node", ["--http", "127.0.0.1:0"]),
  ]);
  silent = createNetServer((socket) => {
    silentSockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => silentSockets.delete(socket));
  });
  web = createHttpServer((_request, response) => response.end("a web page"));
  await Promise.all([listen(silent), listen(web)]);
}, 60_000);

afterAll(async () => {
  for (const socket of silentSockets) socket.destroy();
  web?.closeAllConnections();
  await Promise.all([
    new Promise((resolve) => (silent ? silent.close(resolve) : resolve(undefined))),
    new Promise((resolve) => (web ? web.close(resolve) : resolve(undefined))),
    fixture.teardown(),
  ]);
});

describe("CLI connections — TLS with --ca", () => {
  it("publish over tls:// with --ca delivers the event and exits at once", async () => {
    const subscriber = await fixture.client(tlsUrl(tlsNode), { events: ["hello"], tls: { ca } });
    const received = inbox(subscriber);
    const result = await timedCli([
      ...["publish", "hello", "--data", "over tls"],
      ...["--node", tlsUrl(tlsNode), "--ca", certs.caCert],
    ]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect((await received.next()).text()).toBe("over tls");
    expect(result.seconds).toBeLessThan(8);
  });

  it("$TREESCALE_CA stands in for --ca", async () => {
    const result = await timedCli(["get", "nodes", "--node", tlsUrl(tlsNode)], {
      TREESCALE_CA: certs.caCert,
    });
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
  });

  it("without the CA, the error names the node and says to pass --ca", async () => {
    const result = await timedCli(["publish", "hello", "--node", tlsUrl(tlsNode)]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`cannot trust the node at ${tlsUrl(tlsNode)}`);
    expect(result.stderr).toContain("--ca FILE");
    expect(result.stderr).not.toContain("tls.ca");
  });

  it("every verb that takes --node takes --ca and --connect-timeout", async () => {
    for (const verb of ["apply", "diff", "get", "events", "publish", "watch"]) {
      const help = await runCli([verb, "--help"]);
      expect(help.stdout, verb).toContain("--node <");
      expect(help.stdout, verb).toContain("--ca <file>");
      expect(help.stdout, verb).toContain("--connect-timeout <seconds>");
    }
  });
});

describe("CLI connections — WebSocket", () => {
  it("publish reaches a node over ws:// and over wss:// with --ca", async () => {
    const plainSide = await fixture.client(plainNode, { events: ["hello"] });
    const tlsSide = await fixture.client(tlsUrl(tlsNode), { events: ["hello"], tls: { ca } });
    // Connected means declared: each node delivers to its subscriber from now on.
    const plainInbox = inbox(plainSide);
    const tlsInbox = inbox(tlsSide);
    const [overWs, overWss] = await Promise.all([
      timedCli(["publish", "hello", "--data", "over ws", "--node", `ws://127.0.0.1:${plainNode.http}/`]),
      timedCli([
        ...["publish", "hello", "--data", "over wss"],
        ...["--node", `wss://127.0.0.1:${tlsNode.http}/`, "--ca", certs.caCert],
      ]),
    ]);
    expect(overWs.stderr).toBe("");
    expect(overWss.stderr).toBe("");
    expect([overWs.code, overWss.code]).toEqual([0, 0]);
    expect((await plainInbox.next()).text()).toBe("over ws");
    expect((await tlsInbox.next()).text()).toBe("over wss");
  });
});

describe("CLI connections — servers that do not answer as a node", () => {
  const silentUrl = () => `tcp://127.0.0.1:${portOf(silent)}`;

  it("apply --timeout 5 against a server that accepts and stays silent fails within seconds, naming what it waited for", async () => {
    const result = await timedCli([
      "apply",
      "-f",
      "manifests/examples",
      "--timeout",
      "5",
      "--node",
      silentUrl(),
    ]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain(`no answer from the node at ${silentUrl()}: waited 5 s for READY`);
    // The message shows the 5 s deadline was the one that ended it; the bound leaves a loaded machine room.
    expect(result.seconds).toBeLessThan(15);
  });

  it("every verb with --node gives up on the silent server within its --connect-timeout", async () => {
    const verbs = [
      ["apply", "-f", "manifests/examples"],
      ["diff", "-f", "manifests/examples"],
      ["get", "nodes"],
      ["get", "status"],
      ["publish", "hello"],
      ["events"],
      ["watch", "-f", "manifests/examples"],
    ];
    // One after another: seven CLIs starting at once on a loaded 2-CPU machine would measure the machine.
    for (const verb of verbs) {
      const result = await timedCli([...verb, "--node", silentUrl(), "--connect-timeout", "2"]);
      const name = verb.join(" ");
      expect(result.code, name).not.toBe(0);
      expect(result.stderr, name).toContain(
        `no answer from the node at ${silentUrl()}: waited 2 s for READY`,
      );
      expect(result.seconds, name).toBeLessThan(10);
    }
  }, 90_000);

  it("a web server is named as not a TreeScale node at once, over tcp:// and over ws://", async () => {
    const [overTcp, overWs] = await Promise.all([
      timedCli(["get", "nodes", "--node", `127.0.0.1:${portOf(web)}`]),
      timedCli(["publish", "hello", "--node", `ws://127.0.0.1:${portOf(web)}/`]),
    ]);
    for (const result of [overTcp, overWs]) {
      expect(result.code).toBe(1);
      expect(result.stderr).toContain("is not a TreeScale node");
      expect(result.seconds).toBeLessThan(4);
    }
    expect(overTcp.stderr).toContain('it answered "HTTP/1.1 400 Bad Request');
  });
});

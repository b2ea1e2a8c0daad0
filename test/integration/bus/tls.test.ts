// TLS on real node processes: TLS and plain clients exchanging events across nodes, wss:// on the HTTP
// port, mutual TLS between nodes with --tls-ca (a CA-signed child links, a foreign one is refused), and a
// client that does not trust the node's CA failing with an error that says what to do.
import { readFile } from "node:fs/promises";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WebSocket } from "ws";
import type { BusClient, WebSocketConstructor } from "../../../src/bus/client/index.js";
import {
  BusFixture,
  createCertificates,
  inbox,
  type NodeProcess,
  sync,
  type TestCertificates,
} from "../../support/bus.js";

const fixture = new BusFixture();
let certs: TestCertificates;
let ca: string;
/** Mutual TLS between nodes: --tls-ca on both. */
let secureRoot: NodeProcess;
let secureChild: NodeProcess;
/** A plain parent with a TLS-serving child linked over plain TCP. */
let plainRoot: NodeProcess;
let tlsEdge: NodeProcess;

const tlsUrl = (node: NodeProcess) => `tls://127.0.0.1:${node.port}`;

beforeAll(async () => {
  await fixture.setup();
  certs = await createCertificates(fixture.dir);
  ca = await readFile(certs.caCert, "utf8");
  const serverFlags = ["--tls-cert", certs.nodeCert, "--tls-key", certs.nodeKey];
  [secureRoot, plainRoot] = await Promise.all([
    fixture.startNode("secure-root", [...serverFlags, "--tls-ca", certs.caCert, "--http", "127.0.0.1:0"]),
    fixture.startNode("plain-root"),
  ]);
  [secureChild, tlsEdge] = await Promise.all([
    fixture.startNode("secure-child", [
      ...["--tls-cert", certs.clientCert, "--tls-key", certs.clientKey, "--tls-ca", certs.caCert],
      ...["--parent", secureRoot.url],
    ]),
    fixture.startNode("tls-edge", [...serverFlags, "--parent", plainRoot.url]),
  ]);
  await Promise.all([
    secureRoot.waitForLog(/child node linked node="secure-child"/),
    plainRoot.waitForLog(/child node linked node="tls-edge"/),
  ]);
});

afterAll(() => fixture.teardown());

async function exchange(a: BusClient, b: BusClient): Promise<void> {
  const aInbox = inbox(a);
  const bInbox = inbox(b);
  await sync(a, [bInbox]);
  await sync(b, [aInbox]);
  a.publish("chat", "from a");
  expect((await bInbox.next()).text()).toBe("from a");
  b.publish("chat", "from b");
  expect((await aInbox.next()).text()).toBe("from b");
}

describe("bus TLS — clients", () => {
  it("a TLS client trusting the CA exchanges events with a plain client on another node", async () => {
    const secure = await fixture.client(tlsUrl(tlsEdge), { events: ["chat", "sync"], tls: { ca } });
    expect(secure.node).toBe("tls-edge");
    const plain = await fixture.client(plainRoot, { events: ["chat", "sync"] });
    await exchange(secure, plain);
  });

  it("a wss:// client on the HTTP port exchanges events over the mutual-TLS link", async () => {
    // A browser trusts the CA through its certificate store; ws takes it as an option.
    class TrustingWebSocket extends WebSocket {
      constructor(url: string) {
        super(url, { ca });
      }
    }
    const browser = await fixture.client(`wss://127.0.0.1:${secureRoot.http}/`, {
      events: ["chat", "sync"],
      // ws's event typings are narrower than the structural WHATWG subset the client needs.
      webSocket: TrustingWebSocket as unknown as WebSocketConstructor,
    });
    expect(browser.node).toBe("secure-root");
    const secure = await fixture.client(tlsUrl(secureChild), { events: ["chat", "sync"], tls: { ca } });
    await exchange(browser, secure);
  });

  it("serves /healthz over https", async () => {
    const { request } = await import("node:https");
    const body = await new Promise<string>((resolve, reject) => {
      request(`https://127.0.0.1:${secureRoot.http}/healthz`, { ca }, (response) => {
        let text = "";
        response.on("data", (chunk) => {
          text += chunk;
        });
        response.on("end", () => resolve(text));
      })
        .on("error", reject)
        .end();
    });
    expect(JSON.parse(body)).toMatchObject({ status: "ok", node: "secure-root", childLinks: 1 });
  });

  it("a client that does not trust the node's CA fails with an error naming the fix", async () => {
    const refused = fixture.client(tlsUrl(secureRoot), { events: [] });
    await expect(refused).rejects.toMatchObject({ name: "BusError", code: "tls_untrusted" });
    await expect(refused).rejects.toThrow(/tls:\/\/127\.0\.0\.1:\d+.*tls\.ca/);
  });

  it("a plain TCP client on a TLS port, or a TLS client on a plain one, is told which scheme to use", async () => {
    await expect(fixture.client(secureRoot, { events: [] })).rejects.toThrow(/needs tls:\/\//);
    await expect(fixture.client(tlsUrl(plainRoot), { events: [], tls: { ca } })).rejects.toMatchObject({
      code: "connect_failed",
      message: expect.stringMatching(/does not speak TLS.*: use tcp:\/\//),
    });
  });
});

describe("bus TLS — node links with --tls-ca", () => {
  it("a child with a CA-signed certificate links; events cross the link", async () => {
    const up = await fixture.client(tlsUrl(secureChild), { events: ["down", "sync"], tls: { ca } });
    const rootSide = await fixture.client(tlsUrl(secureRoot), { events: ["sync"], tls: { ca } });
    const received = inbox(up);
    await sync(rootSide, [received]);
    rootSide.publish("down", "through the mutual-TLS link");
    expect((await received.next()).text()).toBe("through the mutual-TLS link");
  });

  it("a child with a foreign (self-signed) certificate is refused and the parent logs why", async () => {
    const foreign = await fixture.startNode("foreign-child", [
      ...["--tls-cert", certs.foreignCert, "--tls-key", certs.foreignKey, "--tls-ca", certs.caCert],
      ...["--parent", secureRoot.url],
    ]);
    const logged = await secureRoot.waitForLog(/handshake rejected .*foreign-child/);
    expect(logged).toMatch(/certificate signed by the cluster CA/);
    expect(logged).toMatch(/self-signed|SELF_SIGNED/i);
    await foreign.waitForLog(/reconnecting to parent .*auth_failed/);
    expect(secureRoot.stderr.join("\n")).not.toMatch(/child node linked node="foreign-child"/);
    await foreign.stop();
  });
});

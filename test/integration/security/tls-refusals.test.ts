// The parent's side of a child's failed TLS link, against real node processes: a child that does not
// trust the parent's certificate aborts the TLS handshake, and only the parent's log can tell its
// operator who tried and why.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BusFixture,
  createCertificates,
  type NodeProcess,
  type TestCertificates,
} from "../../support/bus.js";

const fixture = new BusFixture();
let certs: TestCertificates;
let parent: NodeProcess;

beforeAll(async () => {
  await fixture.setup();
  certs = await createCertificates(fixture.dir);
  parent = await fixture.startNode("tls-parent", [
    ...["--tls-cert", certs.nodeCert, "--tls-key", certs.nodeKey, "--tls-ca", certs.caCert],
  ]);
});

afterAll(() => fixture.teardown());

describe("parent side of TLS refusals", () => {
  it("logs a child's failed TLS handshake at warning level with its address and the TLS error", async () => {
    // The child trusts another CA (the foreign certificate), so it refuses the parent's certificate.
    const child = await fixture.startNode("distrustful", [
      ...["--tls-cert", certs.clientCert, "--tls-key", certs.clientKey, "--tls-ca", certs.foreignCert],
      ...["--parent", parent.url],
    ]);
    const logged = await parent.waitForLog(/TLS handshake refused/);
    expect(logged).toMatch(/ warn TLS handshake refused remote="127\.0\.0\.1:\d+" reason=".+"/);
    expect(logged).toMatch(/does not trust this node's certificate|alert|unknown ca/i);
    await child.stop();
  });
});

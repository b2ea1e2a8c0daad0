// The dashboard's bundled client over wss://: a node with TLS on its HTTP port serves the page over
// https, and the page in Chromium connects back to the same origin over wss with its token.
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium, openPage } from "../../support/browser.js";
import { BusFixture, createCertificates, type NodeProcess } from "../../support/bus.js";

const fixture = new BusFixture();
let node: NodeProcess;
let browser: Browser;

beforeAll(async () => {
  await fixture.setup();
  const certs = await createCertificates(fixture.dir);
  node = await fixture.startNode("dash-tls", [
    ...["--tls-cert", certs.nodeCert, "--tls-key", certs.nodeKey],
    ...["--http", "127.0.0.1:0", "--heartbeat", "3000"],
  ]);
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await fixture.teardown();
});

describe("dashboard over https and wss (real Chromium, real node)", () => {
  it("loads over https and connects over wss with the token", async () => {
    // The test CA is not one Chromium trusts: the certificate check is what this waives, nothing else.
    const view = await openPage(browser, { ignoreHTTPSErrors: true });
    try {
      const origin = `https://127.0.0.1:${node.http}`;
      const response = await view.page.goto(`${origin}/`);
      expect(response?.headers()["content-security-policy"]).toContain(`wss://127.0.0.1:${node.http}`);
      await view.page.fill("input[name=token]", "good-token");
      await view.page.click("button[type=submit]");
      await view.page.getByTestId("connected-node").waitFor({ timeout: 10_000 });
      expect(await view.page.getByTestId("connected-node").textContent()).toBe("dash-tls");
      expect(await view.page.getByTestId("link-state").textContent()).toBe("live");
      expect(view.requests).toContain(`wss://127.0.0.1:${node.http}/`);
      await view.screenshot("dashboard-wss");
      expect(view.errors).toEqual([]);
    } finally {
      await view.context.close();
    }
  });
});

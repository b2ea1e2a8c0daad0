// A child node whose parent link cannot succeed by retrying (an untrusted TLS certificate, a refused
// secret) says why and how to fix it in a warning, once per cause, while it keeps retrying.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  BusFixture,
  createCertificates,
  type NodeProcess,
  type TestCertificates,
  until,
} from "../../support/bus.js";

const fixture = new BusFixture();
let certs: TestCertificates;
let tlsParent: NodeProcess;
let plainParent: NodeProcess;

beforeAll(async () => {
  await fixture.setup();
  certs = await createCertificates(fixture.dir);
  [tlsParent, plainParent] = await Promise.all([
    fixture.startNode("tls-parent", ["--tls-cert", certs.nodeCert, "--tls-key", certs.nodeKey]),
    fixture.startNode("plain-parent"),
  ]);
});

afterAll(() => fixture.teardown());

/** The child's warning lines, once it has retried `count` times since the first warning. */
async function warningsAfterRetries(child: NodeProcess, count: number): Promise<string[]> {
  const retries = () => child.stderr.filter((line) => line.includes(" info reconnecting to parent")).length;
  const before = retries();
  await until(() => retries() >= before + count, 30_000, `${count} more retries of ${child.name}`);
  return child.stderr.filter((line) => line.includes(" warn "));
}

describe("parent link — warnings a retry cannot cure", () => {
  it("a child that cannot verify its parent's certificate warns once, naming --tls-ca", async () => {
    const child = await fixture.startNode("untrusting-child", [
      "--parent",
      `tls://127.0.0.1:${tlsParent.port}`,
    ]);
    const warning = await child.waitForLog(/ warn cannot link to the parent/);
    expect(warning).toContain("cannot verify the parent's TLS certificate");
    expect(warning).toContain("--tls-ca FILE");
    expect(warning).toContain(`tls://127.0.0.1:${tlsParent.port}`);
    const warnings = await warningsAfterRetries(child, 4);
    expect(warnings).toHaveLength(1);
    await child.stop();
  });

  it("a child the parent refuses for its cluster secret warns once that the secret differs", async () => {
    const otherSecret = join(fixture.dir, "other-secret.txt");
    await writeFile(otherSecret, "not-the-cluster-secret\n");
    const child = await fixture.startNode("stranger-child", [
      ...["--parent", plainParent.url, "--cluster-secret", otherSecret],
    ]);
    const warning = await child.waitForLog(/ warn cannot link to the parent/);
    expect(warning).toContain("the parent refused this node (auth_failed)");
    expect(warning).toContain("the cluster secret differs");
    const warnings = await warningsAfterRetries(child, 4);
    expect(warnings).toHaveLength(1);
    await child.stop();
  });
});

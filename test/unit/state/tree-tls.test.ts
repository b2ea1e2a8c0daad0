// A tree's TLS material made with the real openssl and checked with node's X509Certificate: what a
// build keeps, and when it makes a certificate again.
import { X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { altNamesOf, caFits, certificateFits, ensureTreeTls } from "../../../src/state/tree-tls.js";

let home: string;
const servers = [
  { name: "root", ip: "10.0.0.1" },
  { name: "ca", ip: "edge.example.net" },
];

beforeAll(async () => {
  home = await mkdtemp(join(tmpdir(), "ts-tree-tls-"));
});
afterAll(async () => {
  await rm(home, { recursive: true, force: true });
});

describe("tree TLS", () => {
  it("makes a CA and a certificate per server (name and address in the SAN, 0600), then reuses them", async () => {
    const first = await ensureTreeTls(home, "t", servers);
    const ca = new X509Certificate(first.ca);
    expect(ca.ca).toBe(true);
    expect(first.caFile).toBe(join(home, "contexts", "t", "tls", "ca.crt"));
    const root = new X509Certificate(first.nodes.root!.cert);
    expect(root.checkIssued(ca) && root.verify(ca.publicKey)).toBe(true);
    expect(root.subjectAltName).toBe("DNS:root, IP Address:10.0.0.1");
    expect(root.checkIP("10.0.0.1")).toBe("10.0.0.1");
    // A server named "ca" does not overwrite the CA; an address that is a name is a DNS name.
    expect(new X509Certificate(first.nodes.ca!.cert).subjectAltName).toBe("DNS:ca, DNS:edge.example.net");
    for (const file of ["ca.key", "ca.crt", "nodes/root.key", "nodes/ca.key"])
      expect((await stat(join(home, "contexts", "t", "tls", file))).mode & 0o777).toBe(0o600);
    expect((await stat(join(home, "contexts", "t", "tls"))).mode & 0o777).toBe(0o700);

    const again = await ensureTreeTls(home, "t", servers);
    expect(again).toEqual(first);
  });

  it("a server whose address changed gets a new certificate; the others keep theirs", async () => {
    const before = await ensureTreeTls(home, "t", servers);
    const after = await ensureTreeTls(home, "t", [{ name: "root", ip: "10.0.0.9" }, servers[1]!]);
    expect(after.nodes.root!.cert).not.toBe(before.nodes.root!.cert);
    expect(new X509Certificate(after.nodes.root!.cert).subjectAltName).toContain("IP Address:10.0.0.9");
    expect(after.nodes.ca).toEqual(before.nodes.ca);
    expect(await readFile(join(home, "contexts", "t", "tls", "nodes", "root.crt"), "utf8")).toBe(
      after.nodes.root!.cert,
    );
  });

  it("a kept certificate does not fit another CA, another key, or one near its end", async () => {
    const t = await ensureTreeTls(home, "t", servers);
    const other = await ensureTreeTls(home, "other", servers);
    const root = { name: "root", ip: "10.0.0.1" };
    const now = new Date();
    expect(certificateFits(t.nodes.root!, t.ca, root, now)).toBe(true);
    expect(certificateFits(t.nodes.root!, other.ca, root, now)).toBe(false);
    expect(certificateFits({ ...t.nodes.root!, key: other.nodes.root!.key }, t.ca, root, now)).toBe(false);
    expect(certificateFits(t.nodes.root!, t.ca, { name: "leaf", ip: "10.0.0.1" }, now)).toBe(false);
    expect(certificateFits({ cert: "not a PEM", key: "" }, t.ca, root, now)).toBe(false);
    const nearEnd = new Date(Date.parse(new X509Certificate(t.nodes.root!.cert).validTo) - 86_400_000);
    expect(certificateFits(t.nodes.root!, t.ca, root, nearEnd)).toBe(false);
    expect(caFits({ cert: t.ca, key: "" }, now)).toBe(false);
  });

  it("names a server by its name and its address", () => {
    expect(altNamesOf({ name: "n1", ip: "::1" })).toEqual(["DNS:n1", "IP:::1"]);
  });
});

import { describe, expect, it } from "vitest";
import { parseTokens } from "../../../src/bus/server/auth.js";
import { UsageError } from "../../../src/errors.js";
import { parseHostPort } from "../../../src/node/address.js";
import { seedNode } from "../../../src/node/seed-config.js";

const seed = `
[server.node1]
ip = "10.0.0.1"
service_port = 8888
tags = ["root"]
childs = ["node2"]

[server.node2]
ip = "10.0.0.2"
service_port = 8889
tags = ["web", "eu"]
`;

describe("node config", () => {
  it("takes port and tags from the seed file, and the parent from the server whose childs list the node", () => {
    expect(seedNode(seed, "node2", "treescale.toml")).toEqual({
      name: "node2",
      ip: "10.0.0.2",
      servicePort: 8889,
      tags: ["web", "eu"],
      parent: { name: "node1", ip: "10.0.0.1", servicePort: 8888 },
    });
    expect(seedNode(seed, "node1", "treescale.toml").parent).toBeUndefined();
  });

  it("names the known servers when --name is not among them", () => {
    expect(() => seedNode(seed, "nope", "treescale.toml")).toThrow(/servers: node1, node2/);
  });

  it("parses host:port flags and refuses others as usage errors", () => {
    expect(parseHostPort("127.0.0.1:7000", "--listen")).toEqual({ host: "127.0.0.1", port: 7000 });
    expect(parseHostPort("[::1]:7", "--listen")).toEqual({ host: "::1", port: 7 });
    expect(parseHostPort("tls://h:1", "--parent")).toEqual({ host: "h", port: 1 });
    expect(() => parseHostPort("nope", "--listen")).toThrow(UsageError);
  });

  it("reads one token per line, skipping comments and blanks", () => {
    expect([...parseTokens("# comment\n a \n\nb\r\n")]).toEqual(["a", "b"]);
  });
});

import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { checkHostPorts, formatIssue, loadManifests } from "../../../src/manifest/index.js";
import { loadText, writeTree } from "./support.js";

/** The host-port issues of one TOML file, as `validate` prints them (bare file name). */
async function collisions(text: string): Promise<string[]> {
  const loaded = await loadText("app.toml", text);
  expect(loaded.messages).toEqual([]);
  return checkHostPorts(loaded.desired).map((issue) =>
    formatIssue({ ...issue, file: issue.file.replace(/^.*\//, "") }),
  );
}

const servers = `
[servers.a]
ip = "10.0.0.1"
tags = ["web"]
[servers.b]
ip = "10.0.0.2"
tags = ["web"]
`;

describe("host ports that collide on a node", () => {
  it("two containers on the one node of a fleet without servers, same port and protocol", async () => {
    expect(
      await collisions(`
[containers.api]
image = "x"
ports = ["8080:80"]
[containers.web]
image = "x"
ports = ["8080:8080"]
`),
    ).toEqual([
      "app.toml:5:1: containers.web.ports[0]: host port 0.0.0.0:8080/tcp is also published by " +
        "containers.api (containers.api.ports[0]), and both run on the one node (no servers are declared); " +
        "give one of them another host port or placement",
    ]);
  });

  it("replicas of one container with a fixed host port on one node", async () => {
    const messages = await collisions(`
[containers.web]
image = "x"
replicas = 2
ports = ["8080:80"]
`);
    expect(messages).toEqual([
      "app.toml:2:1: containers.web.ports[0]: host port 0.0.0.0:8080/tcp: 2 replicas run on the one node " +
        "(no servers are declared) and only one can hold it; give the container one replica per node or no host port",
    ]);
  });

  it("leaves apart another protocol, another specific address, and containers placed on other servers", async () => {
    expect(
      await collisions(`${servers}
[containers.tcp]
image = "x"
ports = ["127.0.0.1:53:53"]
[containers.udp]
image = "x"
ports = ["127.0.0.1:53:53/udp"]
[containers.other-ip]
image = "x"
ports = ["127.0.0.2:53:53"]
[containers.on-a]
image = "x"
ports = ["9000:80"]
placement = { nodes = ["a"] }
[containers.on-b]
image = "x"
ports = ["9000:80"]
placement = { nodes = ["b"] }
[containers.spread]
image = "x"
replicas = 2
ports = ["9100:80"]
placement = { tags = ["web"] }
`),
    ).toEqual([]);
  });

  it("containers with the same placement land together; a wildcard meets a specific address", async () => {
    const messages = await collisions(`${servers}
[containers.api]
image = "x"
ports = ["127.0.0.1:8080:80"]
placement = { tags = ["web"] }
[containers.web]
image = "x"
ports = ["8080:80"]
placement = { tags = ["web"] }
`);
    expect(messages).toEqual([expect.stringMatching(/containers\.web\.ports\[0\]: .* both run on node "a"/)]);
  });

  it("a global container meets every container on its nodes, and three replicas over two servers collide", async () => {
    const messages = await collisions(`${servers}
[containers.agent]
image = "x"
mode = "global"
ports = ["9100:9100"]
[containers.web]
image = "x"
replicas = 3
ports = ["9100:80"]
placement = { nodes = ["b", "a"] }
`);
    expect(messages).toEqual([
      expect.stringMatching(/containers\.web\.ports\[0\]: .*2 replicas run on node "a"/),
      expect.stringMatching(
        /containers\.web\.ports\[0\]: .*is also published by containers\.agent .*node "a"/,
      ),
    ]);
  });
});

describe("directories without manifests", () => {
  it("are listed by the loader, with no issue (an apply of nothing may be meant)", async () => {
    const root = await writeTree({
      "app/web.toml": '[containers.web]\nimage = "x"\n',
      "notes/README.md": "",
    });
    await mkdir(join(root, "empty"));
    const result = await loadManifests([join(root, "app"), join(root, "notes"), join(root, "empty")]);
    expect(result.issues).toEqual([]);
    expect(result.emptyDirectories).toEqual([join(root, "notes"), join(root, "empty")]);
  });
});

// The permission matcher, the node's reserved events, and the token file's two formats.
import { describe, expect, it } from "vitest";
import {
  EventPolicy,
  Permissions,
  parseTokenFile,
  patternMatches,
  permissionProblem,
  reconcileTokens,
  tokenLabel,
} from "../../../src/bus/server/index.js";
import { UsageError } from "../../../src/errors.js";
import { RESERVED_EVENTS } from "../../../src/node/reserved-events.js";

describe("permission patterns", () => {
  it("a * stands for any run of characters, dots included; other characters are literal", () => {
    expect(patternMatches("deploy", "deploy")).toBe(true);
    expect(patternMatches("deploy", "deploys")).toBe(false);
    expect(patternMatches("deploy.*", "deploy.web.eu")).toBe(true);
    expect(patternMatches("deploy.*", "deployment")).toBe(false);
    expect(patternMatches("*.done", "job.42.done")).toBe(true);
    expect(patternMatches("a+b", "aab")).toBe(false);
    expect(patternMatches("*", "anything.at.all")).toBe(true);
  });

  it("subscribing to every event (*) is granted only by a pattern that matches every name", () => {
    expect(new Permissions(["subscribe:*"]).allows("subscribe:*")).toBe(true);
    expect(new Permissions(["subscribe:deploy.*"]).allows("subscribe:*")).toBe(false);
    expect(new Permissions(["subscribe:*.x"]).allows("subscribe:*")).toBe(false);
  });

  it("subscribe and publish patterns grant only their own kind; named permissions only themselves", () => {
    const permissions = new Permissions(["subscribe:*", "publish:deploy", "fleet:read"]);
    expect(permissions.allows("subscribe:agent.status")).toBe(true);
    expect(permissions.allows("publish:deploy")).toBe(true);
    expect(permissions.allows("publish:other")).toBe(false);
    expect(permissions.allows("fleet:read")).toBe(true);
    expect(permissions.allows("fleet:apply")).toBe(false);
    expect(permissions.allows("*")).toBe(false);
    expect(permissions.unrestricted).toBe(false);
    // Asked again (the remembered answer) the same.
    expect(permissions.allows("publish:other")).toBe(false);
  });

  it("* grants everything, reserved events included; an empty list nothing", () => {
    expect(Permissions.all.allows("node:reparent")).toBe(true);
    expect(Permissions.all.allows("publish:x")).toBe(true);
    expect(Permissions.all.unrestricted).toBe(true);
    expect(Permissions.none.allows("subscribe:x")).toBe(false);
  });

  it("permissionProblem names unknown permissions and the forms that exist", () => {
    for (const good of ["*", "fleet:read", "fleet:apply", "node:reparent", "images:push", "publish:a.*"])
      expect(permissionProblem(good)).toBeUndefined();
    expect(permissionProblem("fleet:write")).toMatch(/unknown permission "fleet:write": use subscribe:/);
    expect(permissionProblem("publish:")).toMatch(/event pattern/);
    expect(permissionProblem("subscribe:a b")).toMatch(/without whitespace/);
  });
});

describe("images:push", () => {
  it("lets a token push images and follow the push's progress, nothing else", () => {
    const pusher = new Permissions(["images:push"]);
    const policy = new EventPolicy(RESERVED_EVENTS);
    expect(["image.offer", "image.chunk", "image.end", "image.fetch"].map((e) => policy.toSend(e))).toEqual([
      "images:push",
      "images:push",
      "images:push",
      "images:push",
    ]);
    expect(pusher.allows("images:push")).toBe(true);
    expect(pusher.allows("subscribe:image.progress")).toBe(true);
    expect(pusher.allows("subscribe:drift")).toBe(false);
    expect(pusher.allows("fleet:apply")).toBe(false);
    expect(new Permissions(["fleet:apply"]).allows("subscribe:image.progress")).toBe(false);
  });
});

describe("fleet:apply", () => {
  it("lets a token follow its apply (apply.progress, apply.started, apply.planned), nothing more", () => {
    const deployer = new Permissions(["fleet:read", "fleet:apply", "subscribe:agent.status"]);
    expect(deployer.allows("subscribe:apply.progress")).toBe(true);
    expect(deployer.allows("subscribe:apply.started")).toBe(true);
    expect(deployer.allows("subscribe:apply.planned")).toBe(true);
    expect(deployer.allows("subscribe:drift")).toBe(false);
    expect(deployer.allows("publish:apply.started")).toBe(false);
    expect(deployer.allows("publish:apply.planned")).toBe(false);
    expect(new Permissions(["fleet:read"]).allows("subscribe:apply.started")).toBe(false);
  });
});

describe("the node's reserved events", () => {
  const policy = new EventPolicy(RESERVED_EVENTS);

  it("sending an agent request or a re-parent takes its own permission, never publish:<event>", () => {
    expect(policy.toSend("agent.apply")).toBe("fleet:apply");
    expect(policy.toSend("agent.state")).toBe("fleet:read");
    expect(policy.toSend("agent.summary")).toBe("fleet:read");
    expect(policy.toSend("node.reparent")).toBe("node:reparent");
    expect(policy.toSend("image.push")).toBe("images:push");
  });

  it("what agents and nodes announce takes *: publish:* does not let a client speak as a node", () => {
    for (const event of [
      "agent.status",
      "agent.objects",
      "node.down",
      "node.up",
      "apply.progress",
      "apply.started",
      "apply.planned",
      "drift",
    ]) {
      expect(policy.toSend(event)).toBe("*");
      expect(new Permissions(["publish:*"]).allows(policy.toSend(event))).toBe(false);
    }
  });

  it("other events take publish:<event>", () => {
    expect(policy.toSend("deploy")).toBe("publish:deploy");
    expect(policy.reserved("deploy")).toBe(false);
    expect(policy.reserved("agent.apply")).toBe(true);
  });
});

describe("token files", () => {
  it("plain: one token per line, # comments, each allowed everything and logged by a hash", () => {
    const file = parseTokenFile("# tokens\n alpha \n\nbeta\r\n", "/etc/treescale/tokens");
    expect(file.format).toBe("plain");
    expect([...file.tokens.keys()]).toEqual(["alpha", "beta"]);
    const alpha = file.tokens.get("alpha");
    expect(alpha?.permissions.unrestricted).toBe(true);
    expect(alpha?.label).toBe(tokenLabel("alpha"));
    expect(alpha?.label).not.toContain("alpha");
  });

  it("TOML by extension or by a [[token]] table: each token with its name and allow-list", () => {
    const text = `
[[token]]
token = "read-123"
name = "dashboard"
allow = ["subscribe:*", "fleet:read"]

[[token]]
token = "deploy-456"
allow = ["fleet:read", "fleet:apply", "publish:deploy"]
`;
    for (const path of ["tokens.toml", "tokens"]) {
      const file = parseTokenFile(text, path);
      expect(file.format).toBe("toml");
      const dashboard = file.tokens.get("read-123");
      expect(dashboard?.label).toBe("dashboard");
      expect(dashboard?.permissions.allows("fleet:read")).toBe(true);
      expect(dashboard?.permissions.allows("fleet:apply")).toBe(false);
      expect(file.tokens.get("deploy-456")?.label).toBe(tokenLabel("deploy-456"));
      expect(file.tokens.get("deploy-456")?.permissions.allows("publish:deploy")).toBe(true);
    }
  });

  it("reports every problem at once, each at its entry, and never quotes a token", () => {
    const text = `
[[token]]
token = "secret-one"
allow = ["fleet:write", "subscribe:*"]

[[token]]
token = "secret-one"
name = "twice"
allow = ["*"]

[[token]]
token = "secret-three"
allows = ["*"]
`;
    let error: unknown;
    try {
      parseTokenFile(text, "/etc/tokens.toml");
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(UsageError);
    const message = (error as Error).message;
    expect(message).toContain("token file /etc/tokens.toml");
    expect(message).toContain('token[0].allow[0]: unknown permission "fleet:write"');
    expect(message).toContain("token[1] (twice).token: the same token as an earlier entry");
    expect(message).toContain("token[2].allows: unknown key");
    expect(message).toContain("token[2].allow: expected a list of permissions");
    expect(message).not.toContain("secret-");
  });

  it("a TOML file that does not parse names the file and the line", () => {
    expect(() => parseTokenFile('[[token]]\ntoken = "x\n', "t.toml")).toThrow(
      /token file t\.toml:2:\d+: not valid TOML/,
    );
  });
});

describe("token file reload", () => {
  const table = (text: string) => parseTokenFile(text, "t.toml").tokens;
  const entry = (token: string, allow: string) => `[[token]]\ntoken = "${token}"\nallow = [${allow}]\n`;

  it("keeps the grant of an unchanged token and revokes one removed or whose permissions changed", () => {
    const before = table(entry("same", '"fleet:read"') + entry("gone", '"*"') + entry("narrowed", '"*"'));
    const after = table(
      entry("same", '"fleet:read"') + entry("narrowed", '"fleet:read"') + entry("added", '"*"'),
    );
    const { tokens, revoked } = reconcileTokens(before, after);
    expect(tokens.get("same")).toBe(before.get("same"));
    expect(tokens.get("added")).toBe(after.get("added"));
    expect(tokens.get("narrowed")).toBe(after.get("narrowed"));
    expect(revoked).toEqual(new Set([before.get("gone"), before.get("narrowed")]));
  });
});

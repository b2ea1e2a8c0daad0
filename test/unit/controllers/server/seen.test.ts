// A build learns through the tree that a server needs nothing: only when its node answers under its
// parent, on its port, built by this very build, with its files as written and its engine answering.
// Anything else sends that server (and only it) through the SSH steps.
import { describe, expect, it } from "vitest";
import { nodeBundle } from "../../../../controllers/server/bundle.js";
import { serverController } from "../../../../controllers/server/index.js";
import { expectedBuild, seenAsBuilt } from "../../../../controllers/server/seen.js";
import { emptyDesiredState, type ServerSpec } from "../../../../src/model/resources.js";
import type { BuildStep } from "../../../../src/reconcile/controller.js";
import { nodeState, observation } from "../../../support/node-state.js";

const IMAGE_ID = "sha256:aaaabbbbccccddddeeee";
const credentials = { clusterSecret: "s3cret", adminToken: "t0ken" };
const server = (name: string, port: number, childs: string[] = []): ServerSpec => ({
  name,
  ip: "10.0.0.1",
  servicePort: port,
  tags: [],
  groups: [],
  childs,
  ssh: { host: "10.0.0.1", port: 22 },
});
const servers = { root: server("root", 7000, ["leaf"]), leaf: server("leaf", 7001) };
const build = expectedBuild(IMAGE_ID, nodeBundle("leaf", servers, credentials));
const expected = { parent: "root", port: 7001, build };
/** The leaf's node as a build made it, answering through the tree. */
const asBuilt = nodeState("leaf", { parent: "root", listen: "0.0.0.0:7001", version: "0.1.0", build });

describe("server kind — seen as built through the tree", () => {
  it("a node under its parent, on its port, of this build, with its files as written: nothing to do", () => {
    const seen = seenAsBuilt(asBuilt, expected);
    expect(seen).toMatchObject({ asBuilt: true, detail: expect.stringContaining("under root") });
  });

  it("each difference sends the server through SSH, saying why", () => {
    const why = (state: Parameters<typeof seenAsBuilt>[0]) => {
      const seen = seenAsBuilt(state, expected);
      return seen.asBuilt ? "as built" : seen.why;
    };
    expect(why(undefined)).toMatch(/does not answer in the tree/);
    expect(why({ ...asBuilt, parent: "other" })).toMatch(/answers under other, not root/);
    expect(why({ ...asBuilt, listen: "0.0.0.0:7999" })).toMatch(/listens on 0.0.0.0:7999, not port 7001/);
    const { build: _, ...unbuilt } = asBuilt;
    expect(why(unbuilt)).toMatch(/does not say how it was built/);
    expect(why({ ...asBuilt, build: { ...build, id: "0123456789abcdef" } })).toMatch(
      /built from something else \(0123456789abcdef\)/,
    );
    expect(why({ ...asBuilt, build: { ...build, files: "f".repeat(32) } })).toMatch(/files on the server/);
    expect(
      why({ ...asBuilt, observed: { container: observation([], { synced: false, error: "engine down" }) } }),
    ).toMatch(/cannot see its engine: container: engine down/);
  });

  it("another image, file or argument is another build; a credential too (it is in a file)", () => {
    const leaf = nodeBundle("leaf", servers, credentials);
    expect(expectedBuild("sha256:other", leaf).id).not.toBe(build.id);
    expect(expectedBuild("sha256:other", leaf).files).toBe(build.files);
    const rotated = expectedBuild(
      IMAGE_ID,
      nodeBundle("leaf", servers, { ...credentials, adminToken: "new" }),
    );
    expect(rotated.files).not.toBe(build.files);
    expect(rotated.id).not.toBe(build.id);
  });
});

describe("server kind — build with the tree observed", () => {
  it("connects only to servers not seen as built, and says which were seen", async () => {
    const dialed: string[] = [];
    const controller = serverController({
      connect: (spec) => {
        dialed.push(spec.name);
        return Promise.reject(new Error(`${spec.name} is unreachable`));
      },
      image: async () => ({
        tag: "treescale/node:0.1.0",
        id: async () => IMAGE_ID,
        save: () => {
          throw new Error("never saved");
        },
      }),
      credentials: () => Promise.reject(new Error("build passes its own")),
    });
    const steps: [string, BuildStep][] = [];
    const activity: string[] = [];
    const reports = await controller.build(
      { ...emptyDesiredState(), servers },
      {
        dryRun: false,
        parallel: 2,
        acceptNewHostKeys: false,
        credentials,
        // The root answers, but from an older build: it goes through SSH.
        observed: [nodeState("root", { listen: "0.0.0.0:7000", build: { ...build, id: "older" } }), asBuilt],
        onStep: (name, step) => steps.push([name, step]),
        onActivity: (name, step, what) => activity.push(`${name} ${step}: ${what}`),
      },
    );
    expect(dialed).toEqual(["root"]);
    expect(reports.find((r) => r.resource === "leaf")).toMatchObject({
      ok: true,
      steps: [{ step: "tree", result: "unchanged" }],
    });
    expect(reports.find((r) => r.resource === "root")).toMatchObject({ ok: false, failedStep: "connect" });
    expect(steps.map(([name, step]) => `${name} ${step.step}`)).toEqual(["leaf tree"]);
    expect(activity).toEqual([
      expect.stringMatching(/^root tree: its node was built from something else.*checking over SSH$/),
    ]);
  });
});

// Whether a server needs no SSH at all: its node answers in the tree, under the parent the manifests
// give it, on its port, created by the very build this one would make (same image, files and
// arguments: the build hash its container carries), with its files on disk as that build wrote them,
// and its engine answering. Observed state through the bus, as every other kind plans from; anything
// else (not answering, another parent, another build, a file changed, an older node that does not
// say) sends the server through the SSH steps, which check and repair each part.
import { type BuildIdentity, filesDigest } from "../../src/model/build-identity.js";
import { blindKinds, type NodeState } from "../../src/model/wire.js";
import { CONFIG_DIR } from "./bundle.js";
import { buildHash, type NodeBundle } from "./steps.js";

/** The kind whose observation says the node's engine answers it (Docker on that server). */
const ENGINE_KINDS = new Set(["container"]);

export type Expected = {
  parent: string | undefined;
  port: number;
  build: BuildIdentity;
};

export type Seen = { asBuilt: true; detail: string } | { asBuilt: false; why: string };

/** The identity a node made from this bundle and image reports: what seenAsBuilt compares. */
export function expectedBuild(imageId: string, bundle: NodeBundle): BuildIdentity {
  return {
    id: buildHash(imageId, bundle),
    files: filesDigest(
      Object.entries(bundle.files).map(([name, file]) => [`${CONFIG_DIR}/${name}`, file.content] as const),
    ),
  };
}

export function seenAsBuilt(state: NodeState | undefined, expected: Expected): Seen {
  if (!state) return { asBuilt: false, why: "its node does not answer in the tree" };
  if (state.parent !== expected.parent)
    return {
      asBuilt: false,
      why: `its node answers under ${state.parent ?? "no parent"}, not ${expected.parent ?? "as the root"}`,
    };
  const port = Number(state.listen?.slice(state.listen.lastIndexOf(":") + 1));
  if (port !== expected.port)
    return {
      asBuilt: false,
      why: `its node listens on ${state.listen ?? "an unknown address"}, not port ${expected.port}`,
    };
  if (!state.build)
    return { asBuilt: false, why: "its node does not say how it was built (not made by this build)" };
  if (state.build.id !== expected.build.id)
    return { asBuilt: false, why: `its node was built from something else (${state.build.id})` };
  if (state.build.files !== expected.build.files)
    return { asBuilt: false, why: "its files on the server are not those this build writes" };
  const blind = blindKinds(state.observed, ENGINE_KINDS);
  if (blind.length > 0) return { asBuilt: false, why: `its node cannot see its engine: ${blind.join("; ")}` };
  return {
    asBuilt: true,
    detail:
      `node ${state.version ?? "?"} answers ${expected.parent ? `under ${expected.parent}` : "as the root"}, ` +
      `built as wanted (${expected.build.id}), its files as written, its engine answering; not logged in`,
  };
}

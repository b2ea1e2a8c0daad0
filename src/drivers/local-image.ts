// The node image as this machine's Docker engine holds it: what a build sends to servers that lack
// it (compared by ID, so an image already there is never sent again).
import { PassThrough } from "node:stream";
import Docker from "dockerode";
import { TreescaleError } from "../errors.js";

export type LocalImage = { readonly tag: string; id(): Promise<string>; save(): NodeJS.ReadableStream };

export function localImage(tag: string, docker = new Docker()): LocalImage {
  let id: Promise<string> | undefined;
  return {
    tag,
    id() {
      id ??= docker
        .getImage(tag)
        .inspect()
        .then((info) => info.Id)
        .catch((error: unknown) => {
          throw new TreescaleError(
            "IMAGE_UNAVAILABLE",
            `the node image ${tag} is not on this machine's Docker engine (${(error as Error).message}): build it with scripts/build-node-image.sh, or name another with --image`,
            { cause: error },
          );
        });
      return id;
    },
    save() {
      const out = new PassThrough();
      docker
        .getImage(tag)
        .get()
        .then((stream) => stream.pipe(out))
        .catch((error: unknown) => out.destroy(error as Error));
      return out;
    },
  };
}

// The node image as this machine's Docker engine holds it: what a build sends to servers that lack
// it (compared by ID, so an image already there is never sent again). Spoken to with the small Engine
// API client, not dockerode: a no-op build only reads the ID, and importing dockerode (with grpc,
// protobufjs and ssh2 under it) costs more than the whole read.
import { PassThrough } from "node:stream";
import { errorMessage, TreescaleError } from "../errors.js";
import { resolveConnection } from "./docker-mapping.js";
import { EngineHttpClient } from "./engine-http.js";

export type LocalImage = { readonly tag: string; id(): Promise<string>; save(): NodeJS.ReadableStream };

/** Reading an image's ID is one small request: an engine that takes longer is not answering. */
const INSPECT_TIMEOUT_MS = 15_000;

export function localImage(
  tag: string,
  engine = new EngineHttpClient(resolveConnection(), process.env.DOCKER_CERT_PATH),
): LocalImage {
  const path = `/images/${encodeURIComponent(tag)}`;
  let id: Promise<string> | undefined;
  return {
    tag,
    id() {
      id ??= engine
        .get(`${path}/json`, {}, AbortSignal.timeout(INSPECT_TIMEOUT_MS))
        .then((info) => {
          const found = (info as { Id?: unknown }).Id;
          if (typeof found !== "string") throw new Error(`the engine's answer has no image ID`);
          return found;
        })
        .catch((error: unknown) => {
          throw new TreescaleError(
            "IMAGE_UNAVAILABLE",
            `the node image ${tag} is not on this machine's Docker engine (${errorMessage(error)}): build it with scripts/build-node-image.sh, or name another with --image`,
            { cause: error },
          );
        });
      return id;
    },
    save() {
      const out = new PassThrough();
      // The export stops when its reader does (an upload that failed, a build interrupted).
      const stop = new AbortController();
      out.once("close", () => stop.abort());
      engine
        .download(`${path}/get`, stop.signal)
        .then((archive) => {
          archive.once("error", (error) => out.destroy(error));
          archive.pipe(out);
        })
        .catch((error: unknown) => out.destroy(error as Error));
      return out;
    },
  };
}

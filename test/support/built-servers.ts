// What `treescale build` made for servers on this machine (tests and benches share its dockerd):
// their node containers, home volumes and files, removed whatever state a build left them in.
import { rm } from "node:fs/promises";
import Docker from "dockerode";

export async function removeBuiltServers(names: readonly string[]): Promise<void> {
  const docker = new Docker();
  for (const name of names) {
    await docker
      .getContainer(`treescale-${name}`)
      .remove({ force: true })
      .catch(() => undefined);
    await docker
      .getVolume(`treescale-home-${name}`)
      .remove()
      .catch(() => undefined);
    await rm(`/etc/treescale/${name}`, { recursive: true, force: true });
  }
}

// What the balancer tests share: a virtual address no host holds on the Docker bridge's subnet (so
// traffic only ever reaches the containers a test started), and removing just one test's service
// from the table other tests may be using too.
import { execFileSync } from "node:child_process";
import Docker from "dockerode";
import { removeScript } from "../../controllers/balancer/nft-rules.js";

/** `a.b.<third>.<offset + pid % 50>` in the bridge's subnet: distinct per test file and per run. */
export async function bridgeVip(third: number, offset: number): Promise<string> {
  const subnet =
    (await new Docker().getNetwork("bridge").inspect()).IPAM?.Config?.[0]?.Subnet ?? "172.17.0.0/16";
  const [a, b] = subnet.split(".");
  return `${a}.${b}.${third}.${offset + (process.pid % 50)}`;
}

/** Removes one service's element and chain, if they are still there. */
export function removeService(stack: string, name: string, vip: string, port: number): void {
  const script = removeScript(stack, name, { vip, port, protocol: "tcp", alg: "", endpoints: [] });
  try {
    execFileSync("nft", ["-f", "-"], {
      input: `${script.join("\n")}\n`,
      stdio: ["pipe", "ignore", "ignore"],
    });
  } catch {
    // Already gone (a prune in the test removed it).
  }
}

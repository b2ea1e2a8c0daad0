// One or two examples under each verb's --help (`push` is image push's), as kubectl and compose print them: the commonest
// use first. Kept in one table so that a verb cannot ship without them (commands.ts adds them).
import type { Command } from "commander";

export const EXAMPLES: Record<string, readonly [string, string][]> = {
  validate: [
    ["treescale validate -f app/", "check every manifest under app/ (exit 2 with file:line:field when not)"],
    ["treescale validate -f app.toml -o json", "the same, as one JSON document for a script"],
  ],
  diff: [
    ["treescale diff -f app/", "what apply would change, with old and new values (secrets masked)"],
    ["treescale diff -f app/ --prune -o json", "the same including removals, as JSON"],
  ],
  apply: [
    ["treescale apply -f app/", "converge this machine (or the current tree) to the manifests"],
    ["treescale apply -f app/ --prune --yes", "also remove what left the manifests, without asking"],
  ],
  get: [
    ["treescale get containers -A -o wide", "every stack's replicas, with addresses, ports and image IDs"],
    ["treescale get containers -l tier=web -w", "replicas labelled tier=web, then each change as it happens"],
    ["treescale get nodes --tag edge -o name", "the nodes tagged edge, as node/NAME"],
  ],
  logs: [
    ["treescale logs web --tail 20", "the last 20 lines of every replica of web, prefixed web-1 | …"],
    ["treescale logs web -f --since 10m --timestamps", "follow from ten minutes ago until Ctrl-C"],
  ],
  delete: [
    ["treescale delete -f app/ --dry-run", "what removing the stack of app/ would remove, on every node"],
    ["treescale down -f app/ --yes --node 10.0.0.1:7000", "remove it through a tree, without asking"],
  ],
  watch: [
    ["treescale watch -f app/ --prune", "apply on every change under app/; print drift healed and errors"],
  ],
  events: [
    ["treescale events", "every event of the embedded node (or the current tree) until Ctrl-C"],
    ["treescale events --event drift -o json", "drift reports only, as JSON lines"],
  ],
  publish: [
    [
      "treescale publish deploy --data '{\"v\":2}'",
      "send an event to its subscribers anywhere in the tree; prints how many received it",
    ],
    [
      "treescale publish deploy --tag edge --wait-for-subscriber --node tls://10.0.0.1:7000",
      "once a subscriber tagged edge is reachable (up to --wait-timeout), through that node",
    ],
  ],
  node: [
    ["treescale node --listen 0.0.0.0:7000 --tokens tokens.txt", "run a root node"],
    ["treescale node --name edge-1 --parent 10.0.0.1:7000", "run a node under a parent"],
  ],
  build: [
    ["treescale build -f console.toml --dry-run", "what bringing up the declared servers would do"],
    [
      "treescale build -f console.toml --accept-new-host-keys",
      "bring them up, trusting first-seen host keys",
    ],
  ],
  context: [
    ["treescale context list", "the trees build recorded; * is the current one"],
    ["treescale context use prod", "talk to the tree recorded as prod"],
  ],
  completion: [
    ["source <(treescale completion bash)", "complete verbs and flags in this bash"],
    ["treescale completion fish > ~/.config/fish/completions/treescale.fish", "install for fish"],
  ],
  version: [["treescale version -o json", "the version and Node.js, as JSON"]],
  push: [
    ["treescale image push myapp:1.4 --to tag:edge", "from this machine's engine into the nodes tagged edge"],
    [
      "treescale image push -i myapp.tar --to all",
      "from a docker save archive: no engine needed on this machine",
    ],
  ],
};

export function addExamples(command: Command): void {
  const examples = EXAMPLES[command.name()];
  if (!examples) return;
  const width = Math.max(...examples.map(([line]) => line.length));
  const lines = examples.map(([line, what]) => `  ${line.padEnd(width)}   # ${what}`);
  command.addHelpText("after", `\nExamples:\n${lines.join("\n")}`);
}

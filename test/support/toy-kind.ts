// A whole resource kind that lives only in the tests: "toys", declared in the manifests' own
// `toys` section, each painted a colour on every node, where "painting" writes a file in that
// node's toy box (a directory). It has everything a real kind has — manifest section, placement,
// pure plan, an observer, an executor, readiness — and nothing in src/ knows its name: the proof
// that a kind is a folder and a registry line.
import { mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type {
  NodeController,
  ObservedObject,
  Observer,
  Outcome,
  Placement,
  PlannedAction,
} from "../../src/reconcile/controller.js";

export type ToySpec = { name: string; color: string };
export type ObservedToy = ObservedObject & { node: string; color: string };
export type ToyAction = PlannedAction & {
  kind: "toy";
  type: "paint" | "throw-away";
  stack: string;
  replica: number;
  color: string;
};

const COLOR = /^[a-z]+$/;

/** `box`: the directory that stands for this node's engine. */
export function toyKind(box: string): NodeController<ToySpec, ObservedToy, ToyAction> {
  const fileOf = (stack: string, resource: string) => join(box, stack, resource);
  return {
    kind: "toy",
    scope: "node",
    nouns: ["toys", "toy"],
    manifestSection: {
      section: "toys",
      parse: (body) => {
        const color = (body as { color?: unknown } | null)?.color;
        return typeof color === "string" && COLOR.test(color)
          ? { ok: true, value: { color } }
          : { ok: false, issues: [{ path: ["color"], message: "expected a colour in lowercase letters" }] };
      },
    },
    specs: (desired) =>
      Object.fromEntries(
        Object.entries(desired.extensions.toys ?? {}).map(([name, body]) => [
          name,
          { name, color: (body as { color: string }).color },
        ]),
      ),
    place: (specs, nodes) => {
      const shares: Placement["shares"] = new Map(
        Object.keys(specs).map((name) => [name, new Map(nodes.map((node) => [node.name, [1]]))]),
      );
      return { shares, unschedulable: [] };
    },
    checkSpec: (_name, spec) =>
      typeof (spec as { color?: unknown } | null)?.color === "string" ? [] : ["spec.color: must be a string"],
    plan: ({ node, stack, entries, observed, inventory, prune }) => {
      const actions: ToyAction[] = [];
      let unchanged = 0;
      for (const [resource, entry] of Object.entries(entries)) {
        const painted = observed.some((toy) => toy.resource === resource && toy.color === entry.spec.color);
        if (painted) unchanged += 1;
        else
          actions.push({
            kind: "toy",
            type: "paint",
            node,
            stack,
            resource,
            replica: 1,
            color: entry.spec.color,
          });
      }
      for (const toy of observed) {
        if (entries[toy.resource] === undefined && prune && inventory[toy.resource])
          actions.push({
            kind: "toy",
            type: "throw-away",
            node,
            stack,
            resource: toy.resource,
            replica: 1,
            color: "",
          });
      }
      return { actions, notes: [], unchanged };
    },
    readiness: (entry, observed) => {
      const ready = observed.some((toy) => toy.color === entry.spec.color) ? 1 : 0;
      return ready === 1
        ? { condition: "Ready", reason: "Painted", message: entry.spec.color, ready }
        : { condition: "Reconciling", reason: "Painting", message: "", ready, recheckAfterMs: 100 };
    },
    describe: (action) =>
      action.type === "paint"
        ? { effect: "create", verb: "paint", target: `toy ${action.resource}`, reason: action.color }
        : { effect: "remove", verb: "throw", target: `toy ${action.resource}`, reason: "left the manifests" },
    actionJson: (action) => ({
      action: action.type,
      node: action.node,
      resource: action.resource,
      color: action.color,
    }),
    rows: (observed) =>
      observed.map((toy) => ({ name: toy.resource, stack: toy.stack, node: toy.node, color: toy.color })),
    runtime: async () => ({
      observe: (context) => new ToyBoxObserver(box, context.node, context.onChange),
      execute: async (actions) => {
        const outcomes: Outcome<ToyAction>[] = [];
        for (const action of actions) {
          const file = fileOf(action.stack, action.resource);
          if (action.type === "paint") {
            await mkdir(join(box, action.stack), { recursive: true });
            await writeFile(file, action.color);
          } else await rm(file, { force: true });
          outcomes.push({ action, ok: true, ms: 0 });
        }
        return outcomes;
      },
    }),
  };
}

/** Lists the toy box; told of its own changes by a relist after each execute (the agent relists). */
class ToyBoxObserver implements Observer<ObservedToy> {
  #items: ObservedToy[] = [];
  synced = false;
  error: string | undefined;

  constructor(
    private readonly box: string,
    private readonly node: string,
    private readonly onChange: (
      changed: { stack: string; resource: string }[],
      at: number | undefined,
    ) => void,
  ) {}

  async start(): Promise<void> {
    await this.relist();
  }

  stop(): void {}

  async relist(): Promise<void> {
    await mkdir(this.box, { recursive: true });
    const items: ObservedToy[] = [];
    for (const stack of await readdir(this.box)) {
      for (const resource of await readdir(join(this.box, stack))) {
        const color = await readFile(join(this.box, stack, resource), "utf8");
        items.push({ stack, resource, replica: 1, node: this.node, color });
      }
    }
    const before = new Map(this.#items.map((t) => [`${t.stack}/${t.resource}`, t.color]));
    const changed = items.filter((t) => before.get(`${t.stack}/${t.resource}`) !== t.color);
    this.#items = items;
    this.synced = true;
    if (changed.length > 0) this.onChange(changed, undefined);
  }

  items(): ObservedToy[] {
    return this.#items;
  }
}

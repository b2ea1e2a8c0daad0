// The kinds this program knows, handed in by the composition root. Everything else finds a kind's
// controller here, by its name or by the noun `get` takes.
import { InternalError } from "../errors.js";
import type { DesiredState } from "../model/resources.js";
import type {
  ActionLine,
  Controller,
  FleetController,
  ManifestSection,
  NodeController,
  PlanNote,
  PlannedAction,
} from "./controller.js";

/** Manifest sections whose kind has a controller of its own; until it lands, they are reported, not ignored. */
const DECLARED_KINDS: readonly { kind: string; names(desired: DesiredState): string[]; what: string }[] = [
  { kind: "container", names: (d) => Object.keys(d.containers), what: "" },
  { kind: "balancer", names: (d) => Object.keys(d.balancers), what: "" },
  {
    kind: "server",
    names: (d) => Object.values(d.servers).flatMap((s) => (s.ssh ? [s.name] : [])),
    what: " (its ssh block is not acted on)",
  },
];

export class Registry {
  readonly nodeKinds: readonly NodeController[];
  readonly fleetKinds: readonly FleetController[];

  constructor(controllers: readonly Controller[]) {
    const kinds = controllers.map((c) => c.kind);
    const twice = kinds.find((kind, index) => kinds.indexOf(kind) !== index);
    if (twice !== undefined) throw new InternalError(`kind "${twice}" is registered twice`);
    this.nodeKinds = controllers.filter((c): c is NodeController => c.scope === "node");
    this.fleetKinds = controllers.filter((c): c is FleetController => c.scope === "fleet");
  }

  /** Manifest sections the registered kinds add to the built-in ones. */
  sections(): ManifestSection[] {
    return this.nodeKinds.flatMap((kind) => (kind.manifestSection ? [kind.manifestSection] : []));
  }

  nodeKind(kind: string): NodeController | undefined {
    return this.nodeKinds.find((c) => c.kind === kind);
  }

  /** How an action of any registered kind reads in a plan. */
  describe(action: PlannedAction): ActionLine {
    return this.#owner(action).describe(action);
  }

  actionJson(action: PlannedAction): Record<string, unknown> {
    return { kind: action.kind, ...this.#owner(action).actionJson(action) };
  }

  #owner(action: PlannedAction): NodeController | FleetController {
    const owner =
      this.nodeKind(action.kind) ?? this.fleetKinds.find((controller) => controller.kind === action.kind);
    if (!owner) throw new InternalError(`no controller registered for kind "${action.kind}"`);
    return owner;
  }

  byNoun(noun: string): NodeController | undefined {
    return this.nodeKinds.find((c) => c.nouns.includes(noun));
  }

  /**
   * The node-scope kinds these manifests need a node to see: those they declare, and the kinds those
   * plan from. A node that cannot see a kind nobody uses (nft without permission, say) is not blind.
   */
  kindsInUse(desired: DesiredState): Set<string> {
    const used = new Set<string>();
    for (const kind of this.nodeKinds) {
      if (Object.keys(kind.specs(desired)).length === 0) continue;
      used.add(kind.kind);
      for (const peer of kind.dependsOn ?? []) used.add(peer);
    }
    return used;
  }

  /** Resources the manifests declare that no controller of this program acts on. */
  unsupported(desired: DesiredState): PlanNote[] {
    const known = new Set([...this.nodeKinds, ...this.fleetKinds].map((c) => c.kind));
    return DECLARED_KINDS.filter((d) => !known.has(d.kind)).flatMap((d) =>
      d.names(desired).map((name) => ({
        kind: d.kind,
        node: "",
        resource: name,
        verb: "unsupported",
        target: `${d.kind} ${name}`,
        reason: `no controller for kind ${d.kind} in this version${d.what}`,
      })),
    );
  }
}

// The layering of src/ and controllers/ (docs: shared DESIGN.md §4), checked by `npm run lint:deps`.
// Each rule names a boundary that keeps a concern replaceable or testable on its own; a violation
// means a lower layer has started to know about a higher one. Type-only imports count: they couple
// the layers as much as value imports do, they only leave no trace in the emitted JavaScript.

/** A module area of src/: the folder src/NAME/ or the single file src/NAME.ts, whichever exists. */
const area = (...names) => `^src/(${names.join("|")})(/|[.]ts$)`;

/** The src/ areas every layer may use: plain types and values, helpers, the error classes. */
const FOUNDATION = ["model", "util", "errors"];

module.exports = {
  forbidden: [
    {
      name: "no-circular",
      comment:
        "A cycle makes its modules one unit: none can be loaded, tested or moved without the others, " +
        "and the order in which they initialise decides what each sees at import time.",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    {
      name: "no-folder-cycles",
      comment:
        "Two folders that import each other (src/agent <-> src/state) are one concern split in two: " +
        "neither can be understood or replaced alone, even when no single module cycle exists.",
      severity: "error",
      scope: "folder",
      from: {},
      to: { circular: true },
    },
    {
      name: "src-not-to-controllers",
      comment:
        "src/ defines the controller interface and the machinery around it; the controllers plug into it. " +
        "Only the composition root (src/cli/main.ts, left out of the graph below) wires them in, " +
        "so adding a kind never touches src/.",
      severity: "error",
      from: { path: "^src/" },
      to: { path: "^controllers/" },
    },
    {
      name: "controllers-only-to-their-interfaces",
      comment:
        "A controller plans and executes through the reconcile interface, the drivers and the model; " +
        "reaching into the CLI, the bus or the agent would tie a kind to one way of running it.",
      severity: "error",
      from: { path: "^controllers/" },
      to: { path: "^src/", pathNot: area("reconcile", "drivers", "wire", ...FOUNDATION) },
    },
    {
      name: "controller-folders-apart",
      comment:
        "One room per kind: a controller folder imports only its own files, so a kind can be read, " +
        "changed or removed without following another. Shared code belongs in src/, the registry in controllers/index.ts.",
      severity: "error",
      from: { path: "^controllers/([^/]+)/" },
      to: { path: "^controllers/", pathNot: "^controllers/$1/" },
    },
    {
      name: "foundation-imports-only-foundation",
      comment:
        "src/model, src/util and src/errors.ts are what everything else builds on; importing upwards " +
        "would make every layer depend on every other through them.",
      severity: "error",
      from: { path: area(...FOUNDATION) },
      to: { path: "^src/", pathNot: area(...FOUNDATION) },
    },
    {
      name: "bus-apart-from-fleet",
      comment:
        "The bus (protocol, node server, client library) is published as treescale/client and knows " +
        "nothing of containers or manifests: it carries events for any user.",
      severity: "error",
      from: { path: area("bus") },
      to: { path: "^src/", pathNot: area("bus", "util", "errors") },
    },
    {
      name: "reconcile-and-wire-stay-pure",
      comment:
        "The controller interface and the wire shapes are shared by the CLI, the agent and every controller; " +
        "they may lean only on the model and each other, or all of those would drag in one another.",
      severity: "error",
      from: { path: area("reconcile", "wire") },
      to: { path: "^src/", pathNot: area("reconcile", "wire", ...FOUNDATION) },
    },
    {
      name: "agent-apart-from-entry-points",
      comment:
        "The agent is run by the node daemon and by the embedded node; importing the CLI or the daemon, " +
        "or the fleet's cross-node planning, would make it depend on who runs it.",
      severity: "error",
      from: { path: area("agent") },
      to: { path: area("cli", "node", "fleet") },
    },
    {
      name: "fleet-apart-from-entry-points",
      comment:
        "Fleet planning runs from the CLI against a tree of agents; it talks to them over the bus, " +
        "never by importing the agent, the daemon or the CLI that calls it.",
      severity: "error",
      from: { path: area("fleet") },
      to: { path: area("cli", "node", "agent") },
    },
    {
      name: "drivers-know-only-the-model",
      comment:
        "Drivers are the only code that touches the outside (Docker, SSH, nft); they translate between it " +
        "and the model, so that tests can replace them without dragging in planning or the bus.",
      severity: "error",
      from: { path: area("drivers") },
      to: { path: "^src/", pathNot: area("drivers", ...FOUNDATION) },
    },
    {
      name: "web-is-a-browser-bus-client",
      comment:
        "The dashboard page runs in a browser: it reaches the tree only through the client's browser entry " +
        "and reads the model's wire shapes. Anything else in src/ could pull Node modules into its bundle.",
      severity: "error",
      from: { path: "^src/web/" },
      to: { path: "^src/", pathNot: ["^src/web/", "^src/bus/client/browser[.]ts$", area("model")] },
    },
    {
      name: "nothing-imports-the-page",
      comment: "The node serves the page's built files; no program code depends on the page's modules.",
      severity: "error",
      from: { path: "^(src|controllers)/", pathNot: "^src/web/" },
      to: { path: "^src/web/" },
    },
  ],
  options: {
    // Only the project's own modules: the rules are about its layers, not about packages.
    includeOnly: "^(src|controllers)/",
    // The composition root may import every layer, and nothing imports it, so it closes no cycle.
    // Left in, its edges into controllers/ would make the folder src/ (which holds errors.ts) look
    // like a cycle with every controller folder that uses src/drivers or src/errors.ts.
    exclude: { path: "^src/cli/main[.]ts$" },
    doNotFollow: { path: "node_modules" },
    // Keep `import type` edges in the graph (see the opening comment).
    tsPreCompilationDeps: true,
    // Resolve `./x.js` to `./x.ts` the way the compiler does, with the project's own settings.
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      extensions: [".ts", ".js", ".d.ts"],
    },
  },
};

// The node daemon: bus + HTTP, usable in-process (TreeNode) or through `treescale node`.
export * from "./address.js";
export * from "./seed-config.js";
export * from "./tree-node.js";

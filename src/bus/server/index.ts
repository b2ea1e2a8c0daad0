// The node side of the bus: routing core, auth, parent link and wires.
export * from "./auth.js";
export * from "./bus-server.js";
export * from "./parent-link.js";
export * from "./permissions.js";
export * from "./token-file.js";
export * from "./wire.js";

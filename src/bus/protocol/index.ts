// The wire protocol: frames, control messages and the incremental parser (see docs/PROTOCOL.md).
export * from "./frames.js";
export * from "./messages.js";
export * from "./parser.js";

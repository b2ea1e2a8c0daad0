// The node's logger: one function, so that the daemon decides where lines go and tests can collect them.
export type LogLevel = "info" | "warn" | "error";
export type Logger = (level: LogLevel, message: string, fields?: Record<string, unknown>) => void;

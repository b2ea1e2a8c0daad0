// host:port parsing for flags and config. Bad input is a UsageError that names the flag.
import { UsageError } from "../errors.js";

export interface HostPort {
  host: string;
  port: number;
}

/** Accepts "host:port", "[v6]:port", ":port" or "port"; strips a tcp:// or tls:// scheme. */
export function parseHostPort(text: string, what: string, defaultHost = "127.0.0.1"): HostPort {
  const value = text.replace(/^(tcp|tls):\/\//, "");
  const match = /^(?:\[([^\]]+)\]|([^:]*)):(\d+)$/.exec(value) ?? /^()()(\d+)$/.exec(value);
  const port = Number(match?.[3]);
  if (!match || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new UsageError(`${what}: "${text}" is not host:port (for example 127.0.0.1:7000)`);
  }
  return { host: match[1] || match[2] || defaultHost, port };
}

export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

// Where the node-link controller last moved this node, kept on disk so a restart rejoins the same
// parent; and the check of a re-parent request before it is obeyed.
import { join } from "node:path";
import type { Message } from "../bus/message.js";
import { errorMessage } from "../errors.js";
import { RESOURCE_NAME_PATTERN } from "../model/names.js";
import type { ReparentRequest } from "../model/wire.js";
import { JsonStateFile } from "../state/json-state-file.js";

export class ParentStore extends JsonStateFile<ReparentRequest | undefined> {
  constructor(home: string, node: string) {
    super(join(home, "nodes", node, "parent.json"), {
      fallback: undefined,
      isValid: (value) => !("reason" in checkReparent(value)),
      whatToDo: "remove it to start under the parent given by --parent or the seed file",
    });
  }
}

export function parseReparent(request: Message): { request: ReparentRequest } | { reason: string } {
  let body: unknown;
  try {
    body = request.json();
  } catch (error) {
    return { reason: `the request is not JSON: ${errorMessage(error)}` };
  }
  return checkReparent(body);
}

function checkReparent(body: unknown): { request: ReparentRequest } | { reason: string } {
  if (typeof body !== "object" || body === null) return { reason: "expected { parent, host, port }" };
  const { parent, host, port } = body as Record<string, unknown>;
  const problems: string[] = [];
  if (typeof parent !== "string" || !RESOURCE_NAME_PATTERN.test(parent))
    problems.push("parent: must be a node name");
  if (typeof host !== "string" || host === "" || /[\s/]/.test(host))
    problems.push("host: must be a host name or IP");
  if (typeof port !== "number" || !Number.isInteger(port) || port < 1 || port > 65535)
    problems.push("port: must be a whole number from 1 to 65535");
  return problems.length > 0
    ? { reason: `invalid re-parent request: ${problems.join("; ")}` }
    : { request: { parent: parent as string, host: host as string, port: port as number } };
}

// Validates native-shaped fragments resource by resource, merges them into one DesiredState,
// and checks what only the whole set can show: duplicates and references between resources.
import type * as z from "zod/mini";
import type { BalancerSpec, ContainerSpec, DesiredState, ServerSpec } from "../model/resources.js";
import { emptyDesiredState } from "../model/resources.js";
import type { ExtensionSection } from "./extension-section.js";
import {
  describeValue,
  didYouMean,
  formatPath,
  ISSUE_CODES,
  type IssueCode,
  type ManifestIssue,
  type PathSegment,
  type Position,
} from "./issues.js";
import { checkApplyLimits } from "./limits.js";
import { isPlainObject, KINDS, SCHEMA_KEY, STACK_KEY } from "./parse.js";
import { resourceNameSchema, resourceSchemas, sshSchema } from "./schema.js";

/** Where a native path was written: its path in the source (seed files differ) and position. */
export type Where = (path: readonly PathSegment[]) => { path: PathSegment[]; position: Position };

export type Fragment = {
  file: string;
  /** Seed documents may name children not described yet. */
  seed: boolean;
  data: unknown;
  where: Where;
};

/** SSH settings for a server declared elsewhere (console.toml's [ssh.X]). */
export type SshPatch = { file: string; server: string; data: unknown; where: Where };

type Declaration = { fragment: Fragment };
type Kind = (typeof KINDS)[number];

export type Assembled = {
  desired: DesiredState;
  issues: ManifestIssue[];
  /** The stack the documents name, when they name one (and the same one). */
  stack?: string;
};

/** A stack named by a document, and where. */
type StackMention = { name: string; file: string; position: Position };

/** One resource body checked: the value to keep, or issues at paths inside the body. */
type Validation = { ok: true; value: unknown } | { ok: false; issues: ReadIssue[] };
type Validate = (body: unknown) => Validation;

export function assemble(
  fragments: readonly Fragment[],
  sshPatches: readonly SshPatch[],
  sections: readonly ExtensionSection[] = [],
): Assembled {
  const desired = emptyDesiredState();
  const validators = new Map<string, Validate>(KINDS.map((kind) => [kind, validateWithSchema(kind)]));
  for (const extension of sections) {
    validators.set(extension.section, validateWithExtension(extension));
    desired.extensions[extension.section] = {};
  }
  const topLevelKeys = [...KINDS, STACK_KEY, ...sections.map((extension) => extension.section)];
  const issues: ManifestIssue[] = [];
  const declared = new Map<string, Declaration>();
  const stacks: StackMention[] = [];
  const issueAt: IssueAt = (file, where, path, code, message) => {
    const source = where(path);
    issues.push({ file, ...source.position, path: formatPath(source.path), code, message });
  };

  for (const fragment of fragments) {
    const at = (path: readonly PathSegment[], code: IssueCode, message: string) =>
      issueAt(fragment.file, fragment.where, path, code, message);
    if (!isPlainObject(fragment.data)) {
      at(
        [],
        ISSUE_CODES.invalidValue,
        `expected a table of resources (servers, containers, balancers), got ${describeValue(fragment.data)}`,
      );
      continue;
    }
    for (const [kind, resources] of Object.entries(fragment.data)) {
      if (kind === SCHEMA_KEY && typeof resources === "string") continue;
      if (kind === STACK_KEY) {
        const check = resourceNameSchema.safeParse(resources, { reportInput: true });
        if (check.success)
          stacks.push({ name: check.data, file: fragment.file, position: fragment.where([kind]).position });
        else {
          for (const issue of readZodIssues(check.error.issues, resourceNameSchema))
            at([kind, ...issue.path], issue.code, issue.message);
        }
        continue;
      }
      const validate = validators.get(kind);
      if (validate === undefined) {
        at(
          [kind],
          ISSUE_CODES.unknownField,
          `unknown field ${JSON.stringify(kind)}${didYouMean(kind, topLevelKeys)}`,
        );
        continue;
      }
      if (!isPlainObject(resources)) {
        at(
          [kind],
          ISSUE_CODES.invalidValue,
          `expected a table of ${kind} keyed by name, got ${describeValue(resources)}`,
        );
        continue;
      }
      for (const [name, body] of Object.entries(resources)) {
        const path = [kind, name];
        const nameCheck = resourceNameSchema.safeParse(name);
        if (!nameCheck.success)
          at(path, ISSUE_CODES.invalidValue, `invalid name: ${nameCheck.error.issues[0]?.message}`);
        const key = `${kind}.${name}`;
        const earlier = declared.get(key);
        if (earlier !== undefined) {
          const first = earlier.fragment.where(path).position;
          const second = fragment.where(path).position;
          at(
            path,
            ISSUE_CODES.duplicate,
            `${formatPath(path)} is declared twice: ${earlier.fragment.file}:${first.line}:${first.column} and ${fragment.file}:${second.line}:${second.column}`,
          );
          continue;
        }
        const result = validate(body);
        if (!result.ok)
          for (const issue of result.issues) at([...path, ...issue.path], issue.code, issue.message);
        if (!nameCheck.success || !result.ok) continue;
        declared.set(key, { fragment });
        const position = fragment.where(path).position;
        desired.sources[key] = { file: fragment.file, ...position };
        addResource(desired, kind, name, result.value);
      }
    }
  }

  for (const patch of sshPatches) {
    const at = (path: readonly PathSegment[], code: IssueCode, message: string) =>
      issueAt(patch.file, patch.where, path, code, message);
    const server = desired.servers[patch.server];
    const result = sshSchema.safeParse(patch.data, { reportInput: true });
    if (!result.success) {
      for (const issue of readZodIssues(result.error.issues, sshSchema))
        at(issue.path, issue.code, issue.message);
    } else if (server === undefined) {
      at(
        [],
        ISSUE_CODES.unknownReference,
        `no server named ${JSON.stringify(patch.server)} is declared${didYouMean(patch.server, Object.keys(desired.servers))}`,
      );
    } else server.ssh = { host: server.ip, ...server.ssh, ...result.data };
  }

  checkReferences(desired, declared, issueAt);
  const assembled: Assembled = { desired, issues };
  const [first, ...others] = stacks;
  if (first !== undefined) {
    assembled.stack = first.name;
    for (const other of others.filter((mention) => mention.name !== first.name)) {
      issues.push({
        file: other.file,
        ...other.position,
        path: STACK_KEY,
        code: ISSUE_CODES.conflict,
        message: `the manifests name two stacks: ${describeStack(first)} and ${describeStack(other)}; one apply takes one stack`,
      });
    }
  }
  return assembled;
}

function describeStack(mention: StackMention): string {
  return `${JSON.stringify(mention.name)} at ${mention.file}:${mention.position.line}:${mention.position.column}`;
}

function validateWithSchema(kind: Kind): Validate {
  const schema = resourceSchemas[kind];
  return (body) => {
    const result = schema.safeParse(body, { reportInput: true });
    return result.success
      ? { ok: true, value: result.data }
      : { ok: false, issues: readZodIssues(result.error.issues, schema) };
  };
}

/** A section's parser words its own problems but gives no codes: they are all about the value. */
function validateWithExtension(extension: ExtensionSection): Validate {
  return (body) => {
    const result = extension.parse(body);
    if (result.ok) return result;
    const issues = result.issues.map(({ path, message }) => ({
      path,
      code: ISSUE_CODES.invalidValue,
      message,
    }));
    return { ok: false, issues };
  };
}

function addResource(desired: DesiredState, section: string, name: string, body: unknown): void {
  if (section === "servers") desired.servers[name] = { name, ...(body as Omit<ServerSpec, "name">) };
  else if (section === "containers")
    desired.containers[name] = { name, ...(body as Omit<ContainerSpec, "name">) };
  else if (section === "balancers")
    desired.balancers[name] = { name, ...(body as Omit<BalancerSpec, "name">) };
  else desired.extensions[section]![name] = body;
}

type IssueAt = (
  file: string,
  where: Where,
  path: readonly PathSegment[],
  code: IssueCode,
  message: string,
) => void;

/** Reports at a declared resource, keyed `kind.name`. */
type ResourceIssueAt = (key: string, path: readonly PathSegment[], code: IssueCode, message: string) => void;

function checkReferences(desired: DesiredState, declared: Map<string, Declaration>, issueAt: IssueAt): void {
  const serverNames = Object.keys(desired.servers);
  const containerNames = Object.keys(desired.containers);
  const at: ResourceIssueAt = (key, path, code, message) => {
    const fragment = declared.get(key)!.fragment;
    issueAt(fragment.file, fragment.where, path, code, message);
  };

  // With no servers declared, everything runs on the embedded node, so node names cannot be checked.
  if (serverNames.length > 0) {
    for (const container of Object.values(desired.containers)) {
      for (const [index, node] of (container.placement.nodes ?? []).entries()) {
        if (desired.servers[node] === undefined) {
          const path = ["containers", container.name, "placement", "nodes", index];
          at(
            `containers.${container.name}`,
            path,
            ISSUE_CODES.unknownReference,
            missing("server", node, serverNames),
          );
        }
      }
    }
    for (const balancer of Object.values(desired.balancers)) {
      if (balancer.node !== undefined && desired.servers[balancer.node] === undefined) {
        at(
          `balancers.${balancer.name}`,
          ["balancers", balancer.name, "node"],
          ISSUE_CODES.unknownReference,
          missing("server", balancer.node, serverNames),
        );
      }
    }
  }
  for (const balancer of Object.values(desired.balancers)) {
    for (const [index, backend] of balancer.backends.entries()) {
      if (backend.container !== undefined && desired.containers[backend.container] === undefined) {
        const path = ["balancers", balancer.name, "backends", index, "container"];
        at(
          `balancers.${balancer.name}`,
          path,
          ISSUE_CODES.unknownReference,
          missing("container", backend.container, containerNames),
        );
      }
    }
  }
  checkTree(desired, declared, at);
  checkApplyLimits(desired, at);
}

function missing(what: string, name: string, names: readonly string[]): string {
  return `no ${what} named ${JSON.stringify(name)} is declared${didYouMean(name, names)}`;
}

function checkTree(desired: DesiredState, declared: Map<string, Declaration>, at: ResourceIssueAt): void {
  const parents = new Map<string, string>();
  const serverNames = Object.keys(desired.servers);
  for (const server of Object.values(desired.servers)) {
    const key = `servers.${server.name}`;
    const seed = declared.get(key)!.fragment.seed;
    for (const [index, child] of server.childs.entries()) {
      const path = ["servers", server.name, "childs", index];
      const parent = parents.get(child);
      if (child === server.name)
        at(key, path, ISSUE_CODES.invalidValue, `server ${JSON.stringify(child)} cannot be its own child`);
      else if (desired.servers[child] === undefined) {
        // Seed trees list children before they are described; those links stay pending.
        if (!seed) at(key, path, ISSUE_CODES.unknownReference, missing("server", child, serverNames));
      } else if (parent !== undefined && parent !== server.name) {
        at(
          key,
          path,
          ISSUE_CODES.conflict,
          `server ${JSON.stringify(child)} already has the parent ${JSON.stringify(parent)}; a server has one parent`,
        );
      } else parents.set(child, server.name);
    }
  }
  const reported = new Set<string>();
  for (const start of serverNames) {
    const chain = [start];
    let current = parents.get(start);
    while (current !== undefined && !chain.includes(current)) {
      chain.push(current);
      current = parents.get(current);
    }
    if (current !== start) continue;
    // chain walks child → parent; print parent → child, starting from where the walk began.
    const reversed = [...chain].reverse();
    const cycle = [start, ...reversed.slice(0, -1)];
    const id = [...cycle].sort().join(",");
    if (reported.has(id)) continue;
    reported.add(id);
    const first = cycle[0]!;
    at(
      `servers.${first}`,
      ["servers", first, "childs"],
      ISSUE_CODES.conflict,
      `the tree has a cycle: ${[...cycle, first].join(" → ")}`,
    );
  }
}

type ReadIssue = { path: PathSegment[]; code: IssueCode; message: string };

/**
 * zod issues in plain words, one per problem: a union reports the branch the value was meant for.
 * Parse with `reportInput: true`: an absent input is what tells a missing field from a wrong one.
 */
export function readZodIssues(
  zodIssues: readonly z.core.$ZodIssue[],
  schema: z.core.$ZodType,
  base: PathSegment[] = [],
): ReadIssue[] {
  const result: ReadIssue[] = [];
  for (const issue of zodIssues) {
    const path = [...base, ...(issue.path as PathSegment[])];
    if (issue.code === "unrecognized_keys") {
      const known = fieldsAt(schema, path);
      for (const key of issue.keys) {
        result.push({
          path: [...path, key],
          code: ISSUE_CODES.unknownField,
          message: `unknown field ${JSON.stringify(key)}${didYouMean(key, known)}`,
        });
      }
    } else if (issue.code === "invalid_union") {
      const meant = issue.errors.filter(
        (branch) =>
          !(branch.length === 1 && branch[0]!.path.length === 0 && branch[0]!.code === "invalid_type"),
      );
      if (meant.length === 1) result.push(...readZodIssues(meant[0]!, schema, path));
      else result.push({ path, code: valueCode(issue), message: issue.message });
    } else if (issue.code === "invalid_key")
      result.push({
        path,
        code: ISSUE_CODES.invalidValue,
        message: issue.issues[0]?.message ?? issue.message,
      });
    else result.push({ path, code: valueCode(issue), message: issue.message });
  }
  return result;
}

function valueCode(issue: z.core.$ZodIssue): IssueCode {
  const absent =
    (issue.code === "invalid_type" || issue.code === "invalid_union") && issue.input === undefined;
  return absent ? ISSUE_CODES.missingField : ISSUE_CODES.invalidValue;
}

/** Field names of the object at a path in a schema, for "did you mean" hints. */
function fieldsAt(schema: z.core.$ZodType, path: readonly PathSegment[]): string[] {
  let candidates: z.core.$ZodType[] = [schema];
  for (const segment of path) {
    candidates = candidates.flatMap((candidate) => childSchemas(unwrap(candidate), segment));
  }
  const objects = candidates.flatMap(unwrap).filter((candidate) => candidate._zod.def.type === "object");
  return [
    ...new Set(objects.flatMap((object) => Object.keys((object._zod.def as z.core.$ZodObjectDef).shape))),
  ];
}

function unwrap(schema: z.core.$ZodType): z.core.$ZodType[] {
  const def = schema._zod.def;
  if (def.type === "pipe") return unwrap((def as z.core.$ZodPipeDef).in);
  if (def.type === "optional" || def.type === "default") {
    return unwrap((def as z.core.$ZodOptionalDef | z.core.$ZodDefaultDef).innerType);
  }
  if (def.type === "union") return (def as z.core.$ZodUnionDef).options.flatMap(unwrap);
  return [schema];
}

function childSchemas(schemas: z.core.$ZodType[], segment: PathSegment): z.core.$ZodType[] {
  return schemas.flatMap((schema) => {
    const def = schema._zod.def;
    if (def.type === "object" && typeof segment === "string") {
      const child = (def as z.core.$ZodObjectDef).shape[segment];
      return child === undefined ? [] : [child];
    }
    if (def.type === "record") return [(def as z.core.$ZodRecordDef).valueType];
    if (def.type === "array" && typeof segment === "number") return [(def as z.core.$ZodArrayDef).element];
    return [];
  });
}

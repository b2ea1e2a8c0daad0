// Property tests of the loader on generated manifests in every language: valid ones load without
// issues; mutated ones and garbage never make loadManifests throw, and every issue they give is
// located (file, line ≥ 1, column ≥ 1, a field path unless it is about syntax or the whole document).
// FUZZ_RUNS sets the runs per property: a few hundred in the normal suite, many more in `npm run fuzz`.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { stringify as toToml } from "smol-toml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify as toYaml } from "yaml";
import { ISSUE_CODES, type LoadResult, loadManifests } from "../../src/manifest/index.js";
import type { Language } from "../../src/manifest/parse.js";

const RUNS = Number(process.env.FUZZ_RUNS ?? 300);
/** Enough for the fuzz runs on a busy machine; the normal count takes a few seconds. */
const TIMEOUT_MS = Math.max(60_000, RUNS * 60);

type Data = Record<string, unknown>;

const name = fc.stringMatching(/^[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?$/);
const text = fc.string({ maxLength: 10 });

const validContainer = fc.record(
  {
    image: fc.string({ minLength: 1, maxLength: 12 }),
    replicas: fc.nat({ max: 50 }),
    mode: fc.constantFrom("replicated", "global"),
    command: fc.array(text, { maxLength: 3 }),
    env: fc.dictionary(fc.stringMatching(/^[A-Z_][A-Z0-9_]{0,6}$/), text, { maxKeys: 3 }),
    ports: fc.array(
      fc.record({ host: fc.integer({ min: 1, max: 65535 }), container: fc.integer({ min: 1, max: 65535 }) }),
      { maxLength: 2 },
    ),
    restart: fc.constantFrom("no", "always", "unless-stopped", "on-failure"),
    memory: fc.constantFrom("64m", "1g", 1048576),
    cpus: fc.double({ min: 0.1, max: 8, noNaN: true }),
    heal: fc.boolean(),
  },
  { requiredKeys: ["image"] },
);

const validServer = fc.record(
  { ip: fc.ipV4(), service_port: fc.integer({ min: 1, max: 65535 }), tags: fc.array(text, { maxLength: 2 }) },
  { requiredKeys: ["ip"] },
);

/** A valid native document: servers without a tree, containers, balancers over those containers. */
const validDocument: fc.Arbitrary<Data> = fc
  .record({
    stack: fc.option(name, { nil: undefined }),
    servers: fc.dictionary(name, validServer, { maxKeys: 3 }),
    containers: fc.dictionary(name, validContainer, { maxKeys: 4 }),
  })
  .chain(({ stack, servers, containers }) => {
    const containerNames = Object.keys(containers);
    // A backend names a container, or an image when there is none to name.
    const balancer = fc.record({
      address: fc.ipV4().map((ip) => `${ip}:80`),
      backends: fc.array(
        fc.record({
          container:
            containerNames.length === 0 ? fc.constant(undefined) : fc.constantFrom(...containerNames),
          image: fc.constant("local/web:1"),
          port: fc.integer({ min: 1, max: 65535 }),
        }),
        { maxLength: 2 },
      ),
    });
    const pickOne = (backend: { container: string | undefined; image: string; port: number }) =>
      backend.container === undefined
        ? { image: backend.image, port: backend.port }
        : { container: backend.container, port: backend.port };
    return fc.dictionary(name, balancer, { maxKeys: 2 }).map((generated) => {
      const balancers = Object.fromEntries(
        Object.entries(generated).map(([balancerName, body]) => [
          balancerName,
          { ...body, backends: body.backends.map(pickOne) },
        ]),
      );
      const document: Data = {};
      if (stack !== undefined) document.stack = stack;
      for (const [kind, resources] of Object.entries({ servers, containers, balancers }))
        if (Object.keys(resources).length > 0) document[kind] = resources;
      return document;
    });
  });

/** Keys that have tripped loaders elsewhere, beside the fields the format knows and random ones. */
const key = fc.oneof(
  fc.constantFrom(
    "__proto__",
    "constructor",
    "prototype",
    "toString",
    "image",
    "replicas",
    "ports",
    "servers",
  ),
  fc.string({ maxLength: 8 }),
);

/** Any value all three languages can write: no null, which TOML has no word for. */
const anyValue: fc.Arbitrary<unknown> = fc.letrec<{ value: unknown }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.string({ maxLength: 8 }),
    fc.integer(),
    fc.constantFrom(-1, 0, 1e9, 1e20, 0.5, Number.MAX_SAFE_INTEGER + 2),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.boolean(),
    fc.array(tie("value"), { maxLength: 3 }),
    fc.dictionary(key, tie("value"), { maxKeys: 3 }),
  ),
})).value;

type Mutation =
  | { type: "replace"; at: number; value: unknown }
  | { type: "delete"; at: number }
  | { type: "add"; at: number; key: string; value: unknown };

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ type: fc.constant("replace" as const), at: fc.nat(), value: anyValue }),
  fc.record({ type: fc.constant("delete" as const), at: fc.nat() }),
  fc.record({ type: fc.constant("add" as const), at: fc.nat(), key, value: anyValue }),
);

function isTable(value: unknown): value is Data {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Every table in the document with the keys it holds, the document itself first. */
function tablesOf(document: Data): Data[] {
  const tables: Data[] = [];
  const pending: unknown[] = [document];
  while (pending.length > 0) {
    const value = pending.pop();
    if (Array.isArray(value)) pending.push(...value);
    else if (isTable(value)) {
      tables.push(value);
      pending.push(...Object.values(value));
    }
  }
  return tables;
}

/** The document with each mutation applied to a table chosen by its index (modulo the count). */
function mutate(document: Data, mutations: readonly Mutation[]): Data {
  const copy = structuredClone(document);
  for (const change of mutations) {
    const tables = tablesOf(copy);
    const table = tables[change.at % tables.length]!;
    const keys = Object.keys(table);
    const existing = keys[change.at % Math.max(1, keys.length)];
    if (change.type === "add")
      Object.defineProperty(table, change.key, {
        value: change.value,
        enumerable: true,
        configurable: true,
        writable: true,
      });
    else if (existing === undefined) continue;
    else if (change.type === "delete") delete table[existing];
    else table[existing] = change.value;
  }
  return copy;
}

function write(language: Language, document: Data): string {
  if (language === "toml") return toToml(document);
  if (language === "yaml") return toYaml(document);
  return JSON.stringify(document, null, 2);
}

type TextEdit = { at: number; remove: number; insert: string };

const textEdit: fc.Arbitrary<TextEdit> = fc.record({
  at: fc.nat(),
  remove: fc.nat({ max: 4 }),
  insert: fc.oneof(
    fc.constantFrom("", "\n", "[", "]", "{", "}", '"', "'", ":", "=", ",", "- ", "&a", "*a", "#", "\t", "  "),
    fc.string({ maxLength: 4, unit: "binary" }),
  ),
});

function edit(source: string, edits: readonly TextEdit[]): string {
  let result = source;
  for (const { at, remove, insert } of edits) {
    const offset = at % (result.length + 1);
    result = result.slice(0, offset) + insert + result.slice(offset + remove);
  }
  return result;
}

/** The problems with the issues' locations, in words; empty when every issue is located. */
function unlocated(result: LoadResult, file: string): string[] {
  const problems: string[] = [];
  for (const issue of result.issues) {
    const where = `${issue.file}:${issue.line}:${issue.column} ${issue.path} ${issue.code} ${issue.message}`;
    if (issue.file !== file) problems.push(`names another file: ${where}`);
    if (!(Number.isInteger(issue.line) && issue.line >= 1)) problems.push(`no line: ${where}`);
    if (!(Number.isInteger(issue.column) && issue.column >= 1)) problems.push(`no column: ${where}`);
    const aboutTheWhole =
      issue.code === ISSUE_CODES.parseError || issue.message.startsWith("expected a table of resources");
    if (issue.path === "" && !aboutTheWhole) problems.push(`no field path: ${where}`);
  }
  return problems;
}

describe.each(["toml", "json", "yaml"] as const)("loading generated %s manifests", (language) => {
  let dir = "";
  let file = "";
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "treescale-fuzz-"));
    file = join(dir, `manifest.${language}`);
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const load = async (source: string): Promise<LoadResult> => {
    await writeFile(file, source);
    return loadManifests([file]);
  };

  it(
    "loads every valid document without an issue",
    async () => {
      await fc.assert(
        fc.asyncProperty(validDocument, async (document) => {
          const result = await load(write(language, document));
          expect(result.issues).toEqual([]);
        }),
        { numRuns: RUNS },
      );
    },
    TIMEOUT_MS,
  );

  it(
    "never throws on a mutated document, and locates every issue it gives",
    async () => {
      await fc.assert(
        fc.asyncProperty(
          validDocument,
          fc.array(mutation, { minLength: 1, maxLength: 3 }),
          async (document, mutations) => {
            const result = await load(write(language, mutate(document, mutations)));
            expect(unlocated(result, file)).toEqual([]);
          },
        ),
        { numRuns: RUNS },
      );
    },
    TIMEOUT_MS,
  );

  it(
    "never throws on an edited text or garbage, and locates every issue it gives",
    async () => {
      const source = fc.oneof(
        fc
          .tuple(validDocument, fc.array(textEdit, { minLength: 1, maxLength: 4 }))
          .map(([document, edits]) => edit(write(language, document), edits)),
        fc.string({ maxLength: 200, unit: "binary" }),
      );
      await fc.assert(
        fc.asyncProperty(source, async (text) => {
          const result = await load(text);
          expect(unlocated(result, file)).toEqual([]);
        }),
        { numRuns: RUNS },
      );
    },
    TIMEOUT_MS,
  );
});

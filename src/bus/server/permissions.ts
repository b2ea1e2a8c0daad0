// What a client's token lets it do. A token carries an allow-list; the node that admitted the client
// checks every DECLARE, PUBLISH and REQUEST against it before routing. Links between nodes are trusted
// (the cluster secret proved them), so nothing is checked twice along the tree.

/** Permissions that are a name, not a pattern: what the node's reserved events need (see EventRule). */
export const NAMED_PERMISSIONS = ["fleet:read", "fleet:apply", "node:reparent", "images:push"] as const;

/**
 * Whoever may start an operation may follow it: the progress events a named permission lets a token
 * subscribe to without saying so (a deploy token written before apply.started existed keeps working).
 */
const FOLLOWS: Readonly<Record<string, readonly string[]>> = {
  "images:push": ["subscribe:image.progress"],
  "fleet:apply": ["subscribe:apply.progress", "subscribe:apply.started", "subscribe:apply.planned"],
};

/** Everything, reserved events included: what a plain token (one per line) and a hook without `allow` give. */
export const ALL_PERMISSIONS = "*";

const PATTERN_KINDS = ["subscribe", "publish"] as const;

/** Names in event patterns follow the rules of event names (no whitespace, no NUL); `*` is a wildcard. */
const PATTERN = /^[^\s\0]{1,255}$/;

/** Why an allow-list entry is not a permission, or undefined when it is one. */
export function permissionProblem(entry: string): string | undefined {
  if (entry === ALL_PERMISSIONS || (NAMED_PERMISSIONS as readonly string[]).includes(entry)) return undefined;
  const colon = entry.indexOf(":");
  const kind = entry.slice(0, colon);
  const pattern = entry.slice(colon + 1);
  if (colon > 0 && (PATTERN_KINDS as readonly string[]).includes(kind)) {
    return PATTERN.test(pattern)
      ? undefined
      : `${JSON.stringify(entry)}: the event pattern after "${kind}:" must be 1–255 characters without whitespace`;
  }
  return (
    `unknown permission ${JSON.stringify(entry)}: use subscribe:<event-pattern>, publish:<event-pattern>, ` +
    `${NAMED_PERMISSIONS.join(", ")} or *`
  );
}

/** Whether `name` matches `pattern`, where each `*` stands for any run of characters (dots included). */
export function patternMatches(pattern: string, name: string): boolean {
  return compile(pattern).test(name);
}

function compile(pattern: string): RegExp {
  const parts = pattern.split("*").map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&"));
  return new RegExp(`^${parts.join(".*")}$`, "s");
}

/** Decisions remembered per allow-list: a flood repeats the same few events. */
const MAX_REMEMBERED = 1024;

export class Permissions {
  static readonly all = new Permissions([ALL_PERMISSIONS]);
  static readonly none = new Permissions([]);

  /** Holds `*`: may do anything, and receives requests of reserved events (it may answer as an agent). */
  readonly unrestricted: boolean;
  private readonly named: ReadonlySet<string>;
  private readonly patterns: Record<(typeof PATTERN_KINDS)[number], RegExp[]>;
  private readonly decided = new Map<string, boolean>();

  /** `allow` must hold permissions only (see permissionProblem): the token file and the hook check first. */
  constructor(readonly allow: readonly string[]) {
    this.unrestricted = allow.includes(ALL_PERMISSIONS);
    this.named = new Set(allow.filter((entry) => !isPattern(entry)));
    this.patterns = { subscribe: [], publish: [] };
    for (const entry of allow) {
      if (!isPattern(entry)) continue;
      const colon = entry.indexOf(":");
      this.patterns[entry.slice(0, colon) as "subscribe" | "publish"].push(compile(entry.slice(colon + 1)));
    }
  }

  /**
   * Whether this list grants `permission`: a named one, `*`, or `subscribe:<event>` / `publish:<event>` for
   * one event name. `subscribe:*` (the subscription to every event) is granted only by a pattern that
   * matches every name.
   */
  allows(permission: string): boolean {
    if (this.unrestricted) return true;
    const known = this.decided.get(permission);
    if (known !== undefined) return known;
    const colon = permission.indexOf(":");
    const kind = permission.slice(0, colon);
    const allowed =
      kind === "subscribe" || kind === "publish"
        ? this.patterns[kind].some((pattern) => pattern.test(permission.slice(colon + 1)))
        : this.named.has(permission);
    const granted =
      allowed ||
      Object.entries(FOLLOWS).some(
        ([named, follows]) => this.named.has(named) && follows.includes(permission),
      );
    if (this.decided.size >= MAX_REMEMBERED) this.decided.clear();
    this.decided.set(permission, granted);
    return granted;
  }
}

function isPattern(entry: string): boolean {
  return entry.startsWith("subscribe:") || entry.startsWith("publish:");
}

/** Who a connection is, as far as its token says: what it may do, and how logs name it. */
export interface Grant {
  /** The token's `name`, or a short hash of the token: never the token itself. */
  readonly label: string;
  readonly permissions: Permissions;
}

/**
 * An event the node keeps for itself: sending it (PUBLISH or REQUEST) takes `permission` rather than
 * `publish:<event>`, and its REQUESTs reach only clients with `*`, so that no other client can answer
 * them as the node's agent would.
 */
export interface EventRule {
  /** An event name or pattern (`*` wildcards). */
  readonly event: string;
  /** A named permission, or `*` for events only nodes and unrestricted clients send. */
  readonly permission: string;
}

/** The permission each event takes to send, from the node's reserved events (the first rule that matches). */
export class EventPolicy {
  private readonly rules: { pattern: RegExp; permission: string }[];
  private readonly decided = new Map<string, string>();

  constructor(rules: readonly EventRule[] = []) {
    this.rules = rules.map((rule) => ({ pattern: compile(rule.event), permission: rule.permission }));
  }

  /** What sending `event` takes: its rule's permission, or `publish:<event>` for an ordinary event. */
  toSend(event: string): string {
    const known = this.decided.get(event);
    if (known !== undefined) return known;
    const permission = this.rules.find((rule) => rule.pattern.test(event))?.permission ?? `publish:${event}`;
    if (this.decided.size >= MAX_REMEMBERED) this.decided.clear();
    this.decided.set(event, permission);
    return permission;
  }

  /** Whether `event` is one of the node's reserved events. */
  reserved(event: string): boolean {
    return !this.toSend(event).startsWith("publish:");
  }
}

/** Permissions named in one refusal at most; a DECLARE may be refused for hundreds of events. */
const MAX_NAMED = 8;

/** The permissions missing, as a refusal names them: the first few, and how many more. */
export function missingList(permissions: readonly string[]): string {
  const more = permissions.length - MAX_NAMED;
  return permissions.slice(0, MAX_NAMED).join(", ") + (more > 0 ? ` and ${more} more` : "");
}

/** The message of a refusal: the permissions missing and what they were needed for. */
export function forbiddenMessage(permissions: readonly string[], what: string): string {
  return `forbidden: this token lacks ${missingList(permissions)}, which ${what} needs`;
}

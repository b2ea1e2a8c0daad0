// `get -l key=value,…` and `--tag`: which rows a get keeps. Label selectors read as kubectl's
// equality-based ones (`a=b`, `a==b`, `a!=b`, `a`, `!a`, comma = and); tags are the nodes' own.
import { UsageError } from "../errors.js";

type Requirement =
  | { type: "equals"; key: string; value: string }
  | { type: "differs"; key: string; value: string }
  | { type: "exists"; key: string }
  | { type: "absent"; key: string };

export type LabelSelector = readonly Requirement[];

const KEY = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/;

export function parseLabelSelector(text: string): LabelSelector {
  return text
    .split(",")
    .map((part) => part.trim())
    .filter((part) => part !== "")
    .map((part): Requirement => {
      const match = /^(!?)([^=!]+?)\s*(?:(==|=|!=)\s*(.*))?$/.exec(part);
      const key = match?.[2]?.trim() ?? "";
      if (!match || !KEY.test(key) || (match[1] && match[3]))
        throw new UsageError(
          `-l: cannot read "${part}": write key=value, key!=value, key or !key, joined by commas`,
        );
      if (match[1]) return { type: "absent", key };
      if (match[3] === undefined) return { type: "exists", key };
      const value = match[4] ?? "";
      return match[3] === "!=" ? { type: "differs", key, value } : { type: "equals", key, value };
    });
}

export function matchesLabels(selector: LabelSelector, labels: Readonly<Record<string, string>>): boolean {
  return selector.every((r) => {
    const value = labels[r.key];
    if (r.type === "equals") return value === r.value;
    if (r.type === "differs") return value !== r.value;
    return r.type === "exists" ? value !== undefined : value === undefined;
  });
}

/** A node is selected by --tag when it carries every tag named. */
export function hasTags(wanted: readonly string[], tags: readonly string[] | undefined): boolean {
  return wanted.every((tag) => tags?.includes(tag) ?? false);
}

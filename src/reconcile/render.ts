// How plans read, whatever the kinds in them: terraform-style lines from each controller's
// description of its actions, and the summary line that counts them by effect.
import type { ActionLine, Effect, FieldChange, PlanNote } from "./controller.js";

const SYMBOL: Record<Effect, string> = { create: "+", recreate: "~", update: "~", remove: "-", start: ">" };

/** `  + create   name  reason`, the names aligned; an action's changed fields below it, indented. */
export function actionLines(lines: readonly ActionLine[], indent = "  "): string[] {
  const width = Math.max(8, ...lines.map((line) => line.target.length));
  return lines.flatMap((line) => [
    `${indent}${SYMBOL[line.effect]} ${line.verb.padEnd(8)} ${line.target.padEnd(width)}  ${line.reason}`,
    ...(line.changes ?? []).map((change) => `${indent}    ${changeText(change)}`),
  ]);
}

/** `~ env.MODE: "a" → "b"`, `+ env.NEW: "x"`, `- env.OLD: "y"`; a sensitive value reads `(sensitive)`. */
export function changeText(change: FieldChange): string {
  const value = (v: unknown) => (change.sensitive ? "(sensitive)" : JSON.stringify(v));
  if (change.from === undefined) return `+ ${change.field}: ${value(change.to)}`;
  if (change.to === undefined) return `- ${change.field}: ${value(change.from)}`;
  if (change.sensitive) return `~ ${change.field}: (sensitive)`;
  return `~ ${change.field}: ${value(change.from)} → ${value(change.to)}`;
}

export function noteLines(notes: readonly PlanNote[], indent = "  "): string[] {
  return notes.map((note) => `${indent}! ${note.verb.padEnd(8)} ${note.target}  ${note.reason}`);
}

export type EffectCounts = Record<Effect, number>;

export function countEffects(lines: readonly ActionLine[]): EffectCounts {
  const counts: EffectCounts = { create: 0, recreate: 0, update: 0, remove: 0, start: 0 };
  for (const line of lines) counts[line.effect] += 1;
  return counts;
}

/** `Plan: 1 to create, 0 to recreate, 2 to remove, 1 to change.` */
export function summaryLine(counts: EffectCounts): string {
  const extra = [
    counts.start > 0 ? `${counts.start} to start` : "",
    counts.update > 0 ? `${counts.update} to change` : "",
  ]
    .filter(Boolean)
    .map((text) => `, ${text}`)
    .join("");
  return `Plan: ${counts.create} to create, ${counts.recreate} to recreate, ${counts.remove} to remove${extra}.`;
}

// Several commands in one SSH exec: each exec channel starts the user's login shell, which on many
// servers reads rc files (a pyenv or nvm init costs most of a second), so a round of checks is one
// channel, not one per command. The script is a constant of ours; the commands' words reach it as
// its arguments (quoted by commandLine like any argv), and it runs each by reference to its own
// positional parameters ("${3}" "${4}"), never by a line made of their values.
import { InternalError } from "../errors.js";

export type BatchResult = { code: number; stdout: string; stderr: string };

/**
 * $1 is the boundary; then per command its word count and its words. All run at once, stdin
 * /dev/null, output kept in a private temp dir; then each one's stdout and stderr is printed in
 * order, each followed on its own line by the boundary and its exit code.
 */
const SCRIPT = [
  "b=$1; shift; d=$(mktemp -d) || exit 125; trap 'rm -rf \"$d\"' EXIT; k=0",
  'while [ "$#" -gt 0 ]; do',
  "  n=$1; shift; k=$((k+1)); c=; i=0",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: the shell's "${3}", not a JS template
  '  while [ "$i" -lt "$n" ]; do i=$((i+1)); c="$c \\"\\${$i}\\""; done',
  '  (eval "$c" </dev/null >"$d/$k.o" 2>"$d/$k.e"; echo "$?" >"$d/$k.s") &',
  '  shift "$n"',
  "done",
  "wait; j=0",
  'while [ "$j" -lt "$k" ]; do',
  '  j=$((j+1)); s=$(cat "$d/$j.s")',
  '  cat "$d/$j.o"; printf \'\\n%s %s\\n\' "$b" "$s"',
  '  cat "$d/$j.e" >&2; printf \'\\n%s %s\\n\' "$b" "$s" >&2',
  "done",
].join("\n");

/** The argv that runs every command in one exec; `boundary` must appear in no command's output. */
export function batchArgv(commands: readonly (readonly string[])[], boundary: string): string[] {
  if (!/^[A-Za-z0-9]{16,}$/.test(boundary)) throw new InternalError("ssh batch: weak boundary");
  if (commands.some((argv) => argv.length === 0)) throw new InternalError("ssh batch: an empty command");
  return ["sh", "-c", SCRIPT, "sh", boundary, ...commands.flatMap((argv) => [String(argv.length), ...argv])];
}

/** The batch's output → each command's result, in order; undefined when it is not what the script prints. */
export function splitBatch(
  output: { stdout: string; stderr: string },
  boundary: string,
  count: number,
): BatchResult[] | undefined {
  const stdout = splitStream(output.stdout, boundary, count);
  const stderr = splitStream(output.stderr, boundary, count);
  if (!stdout || !stderr) return undefined;
  return stdout.map((out, i) => ({ code: out.code, stdout: out.text, stderr: stderr[i]!.text }));
}

function splitStream(
  text: string,
  boundary: string,
  count: number,
): { text: string; code: number }[] | undefined {
  const parts: { text: string; code: number }[] = [];
  // Anything the shell itself said before the first command's output (a failing mktemp) stays
  // with the first command, so it is seen.
  let at = 0;
  for (let i = 0; i < count; i++) {
    const marker = text.indexOf(`\n${boundary} `, at);
    if (marker < 0) return undefined;
    const end = text.indexOf("\n", marker + boundary.length + 2);
    const code = Number(text.slice(marker + boundary.length + 2, end < 0 ? undefined : end));
    if (!Number.isInteger(code)) return undefined;
    parts.push({ text: text.slice(at, marker), code });
    at = end < 0 ? text.length : end + 1;
  }
  return parts;
}

// `treescale completion bash|zsh|fish`: a completion script for the shell, made from the verbs and
// flags as they are registered, so it cannot fall behind them.
import type { Command } from "commander";
import { UsageError } from "../errors.js";

type Verb = { name: string; flags: string[] };

export function registerCompletion(
  program: Command,
  _kinds: unknown,
  everyVerb: () => Promise<Command>,
): void {
  program
    .command("completion <shell>")
    .description("print a completion script for bash, zsh or fish")
    .action(async (shell: string) => {
      const verbs = verbsOf(await everyVerb());
      const script = { bash, zsh, fish }[shell as "bash" | "zsh" | "fish"];
      if (!script) throw new UsageError(`completion for "${shell}" is not known: choose bash, zsh or fish`);
      process.stdout.write(script(verbs));
    });
}

function verbsOf(every: Command): Verb[] {
  return every.commands
    .map((command) => ({
      name: command.name(),
      flags: command.options.flatMap((o) => [o.long, o.short].filter((f): f is string => f !== undefined)),
    }))
    .sort((a, b) => a.name.localeCompare(b.name));
}

function bash(verbs: Verb[]): string {
  const cases = verbs.map((v) => `    ${v.name}) flags="${v.flags.join(" ")}" ;;`).join("\n");
  return `# treescale bash completion: source <(treescale completion bash)
_treescale() {
  local cur verb flags
  cur="\${COMP_WORDS[COMP_CWORD]}"
  if [ "$COMP_CWORD" -eq 1 ]; then
    COMPREPLY=($(compgen -W "${verbs.map((v) => v.name).join(" ")}" -- "$cur"))
    return
  fi
  verb="\${COMP_WORDS[1]}"
  case "$verb" in
${cases}
    *) flags="" ;;
  esac
  if [[ "$cur" == -* ]]; then
    COMPREPLY=($(compgen -W "$flags" -- "$cur"))
  else
    COMPREPLY=($(compgen -f -- "$cur"))
  fi
}
complete -F _treescale treescale
`;
}

function zsh(verbs: Verb[]): string {
  return `#compdef treescale
# treescale zsh completion: treescale completion zsh > "\${fpath[1]}/_treescale"
autoload -U +X bashcompinit && bashcompinit
${bash(verbs)}`;
}

function fish(verbs: Verb[]): string {
  const lines = [`# treescale fish completion`, "complete -c treescale -f"];
  for (const verb of verbs) {
    lines.push(`complete -c treescale -n "__fish_use_subcommand" -a ${verb.name}`);
    for (const flag of verb.flags.filter((f) => f.startsWith("--")))
      lines.push(`complete -c treescale -n "__fish_seen_subcommand_from ${verb.name}" -l ${flag.slice(2)}`);
  }
  return `${lines.join("\n")}\n`;
}

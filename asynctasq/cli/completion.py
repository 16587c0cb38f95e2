"""``asynctasq completion bash|zsh``: a shell completion script, generated from the
command line's own parser (every command, action and flag), so it never falls behind.

    eval "$(asynctasq completion bash)"     # in ~/.bashrc
    eval "$(asynctasq completion zsh)"      # in ~/.zshrc
"""

from __future__ import annotations

import argparse
import shlex

from asynctasq.cli.admin import Subparsers, example

__all__ = ["add_parser", "script", "words"]


def add_parser(commands: Subparsers) -> None:
    parser = commands.add_parser(
        "completion",
        help="print a shell completion script (bash, zsh)",
        description="Print a completion script for your shell; load it from your shell's "
        "start-up file.",
        **example('eval "$(asynctasq completion bash)"', 'eval "$(asynctasq completion zsh)"'),
    )
    parser.add_argument("shell", choices=("bash", "zsh"))
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    # lazy: main imports this module (through its command table); the whole parser is
    # only needed here
    from asynctasq.cli.main import build_parser

    print(script(build_parser([]), args.shell))
    return 0


def words(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> dict[tuple[str, ...], list[str]]:
    """Each command path (``()``, ``("job",)``, ``("job", "list")``...) with the words
    that may follow it: its actions, then its flags."""
    found: dict[tuple[str, ...], list[str]] = {}
    here: list[str] = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                # `worker list` is spelled as the hidden `workers` command
                spelled = ("worker", "list") if name == "workers" and not path else (*path, name)
                if spelled[-1] == "list" and len(spelled) == 2 and spelled[0] == "worker":
                    found.setdefault(("worker",), []).append("list")
                else:
                    here.append(name)
                found.update(words(sub, spelled))
        elif action.option_strings:
            here.extend(option for option in action.option_strings if option.startswith("--"))
        elif action.choices:  # a positional with fixed values (completion's shell)
            here.extend(str(choice) for choice in action.choices)
    found[path] = here + found.get(path, [])
    return found


def script(parser: argparse.ArgumentParser, shell: str) -> str:
    table = words(parser)
    entries = "\n".join(
        f"  [{shlex.quote(' '.join(('_', *path)))}]={shlex.quote(' '.join(options))}"
        for path, options in sorted(table.items())
    )
    body = f"""declare -gA _asynctasq_words=(
{entries}
)
_asynctasq() {{
  local cur="${{COMP_WORDS[COMP_CWORD]}}" path="_" i
  for ((i = 1; i < COMP_CWORD; i++)); do
    if [[ -n "${{_asynctasq_words["$path ${{COMP_WORDS[i]}}"]+set}}" ]]; then
      path="$path ${{COMP_WORDS[i]}}"
    fi
  done
  COMPREPLY=($(compgen -W "${{_asynctasq_words[$path]}}" -- "$cur"))
}}
complete -o default -F _asynctasq asynctasq"""
    if shell == "zsh":
        return f"autoload -U +X bashcompinit && bashcompinit\n{body}"
    return body

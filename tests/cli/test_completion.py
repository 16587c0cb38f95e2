"""The bash completion script, loaded into a real bash and asked to complete."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tests.cli.helpers import cli


def complete(script: str, *words: str) -> list[str]:
    """What bash offers for the last of ``words`` (``asynctasq`` first)."""
    line = " ".join(f"'{w}'" for w in words)
    program = f"{script}\nCOMP_WORDS=({line}); COMP_CWORD={len(words) - 1}; _asynctasq; "
    program += 'printf "%s\\n" "${COMPREPLY[@]}"'
    done = subprocess.run(["bash", "-c", program], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@pytest.mark.skipif(shutil.which("bash") is None, reason="no bash on this machine")
def test_bash_completes_commands_actions_and_flags() -> None:
    generated = cli({}, "completion", "bash")
    assert generated.returncode == 0
    script = generated.stdout
    assert complete(script, "asynctasq", "jo") == ["job"]
    assert complete(script, "asynctasq", "job", "re") == ["retry", "remove"]
    assert "--older-than" in complete(script, "asynctasq", "queue", "clean", "--")
    assert complete(script, "asynctasq", "worker", "li") == ["list"]
    assert complete(script, "asynctasq", "worker", "list", "--max") == ["--max-age"]
    assert complete(script, "asynctasq", "--json", "job", "list", "--cur") == ["--cursor"]
    assert complete(script, "asynctasq", "completion", "") == ["--help", "bash", "zsh"]
    zsh = cli({}, "completion", "zsh").stdout
    assert zsh.startswith("autoload -U +X bashcompinit") and script in zsh

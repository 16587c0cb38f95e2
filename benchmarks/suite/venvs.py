"""The peers' virtualenvs: one per [group] of benchmarks/requirements-peers.txt,
under benchmarks/.venv-peers/<group>/, rebuilt when the group's lines change."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
REQUIREMENTS = ROOT / "benchmarks" / "requirements-peers.txt"
VENVS = ROOT / "benchmarks" / ".venv-peers"
INSTALL_TIMEOUT = 600


def read_groups(path: Path = REQUIREMENTS) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    current: list[str] | None = None
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("[") and line.endswith("]"):
            current = groups.setdefault(line[1:-1], [])
        elif current is None:
            raise ValueError(f"{path.name}: {line!r} comes before any [group] header")
        else:
            current.append(line)
    return groups


def python_of(group: str) -> Path:
    return VENVS / group / "bin" / "python"


def _stamp(group: str) -> Path:
    return VENVS / group / ".requirements"


def is_current(group: str, lines: list[str]) -> bool:
    stamp = _stamp(group)
    return python_of(group).exists() and stamp.exists() and stamp.read_text() == "\n".join(lines)


def build(group: str, lines: list[str]) -> str | None:
    """(Re)create the group's virtualenv; returns None, or why it failed."""
    folder = VENVS / group
    if folder.exists():
        shutil.rmtree(folder)
    # the interpreter the project's virtualenv was made from: the same Python for all
    base = getattr(sys, "_base_executable", None) or sys.executable
    steps = [
        [base, "-m", "venv", str(folder)],
        [str(python_of(group)), "-m", "pip", "install", "--quiet",
         "--disable-pip-version-check", *lines],
    ]  # fmt: skip
    for command in steps:
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=INSTALL_TIMEOUT, check=False
            )
        except subprocess.TimeoutExpired:
            return f"`{' '.join(command[:4])}` took over {INSTALL_TIMEOUT}s"
        if done.returncode != 0:
            errors = [ln for ln in done.stderr.splitlines() if "ERROR" in ln] or [
                done.stderr.strip()[-300:]
            ]
            return f"installing [{group}] failed: {errors[-1]}"
    _stamp(group).write_text("\n".join(lines))
    return None


def ensure(
    wanted: Iterable[str], on_built: Callable[[str, str | None], None] | None = None
) -> dict[str, str | None]:
    """Make sure each wanted group's virtualenv is current, building the missing
    ones two at a time; returns group -> None (ready) or the reason it is not."""
    groups = read_groups()
    status: dict[str, str | None] = {}
    todo: list[str] = []
    for group in dict.fromkeys(wanted):
        if group not in groups:
            status[group] = f"no [{group}] group in {REQUIREMENTS.name}"
        elif is_current(group, groups[group]):
            status[group] = None
        else:
            todo.append(group)

    def work(group: str) -> None:
        status[group] = build(group, groups[group])
        if on_built is not None:
            on_built(group, status[group])

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(work, todo))
    return status

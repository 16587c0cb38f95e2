"""The package's layers read one way, with no import cycles.

Layers, bottom to top (a module may import its own layer and those below)::

    jobs, lifecycle, clock, errors, redaction, config (and checks, config_values)
    serialization
    tasks
    drivers
    core (dispatcher, worker, events, metrics, logs, driver_factory, backends)
    operations (what an operator does: the CLI's admin commands, the dashboard),
    queues (the AsyncMQ-style Queue)
    cli, dashboard, testing, contrib (the operator's two front ends side by side;
    integrations: ASGI, Django, OpenTelemetry)

The import graph is read from the source with ``ast`` (nothing is imported):

- an import cycle fails. Imports inside functions count: a lazy import hides a
  cycle from the interpreter, it does not remove it. Imports under
  ``if TYPE_CHECKING`` do not count (they never run);
- an import of a higher layer fails, wherever it is (module level, inside a
  function, or under ``if TYPE_CHECKING``);
- an import inside a function (a lazy import) says why in a comment: on its line,
  or on one of the two lines above it (above the first of a run of imports).

``asynctasq/__init__.py`` and ``__main__.py`` are the package's front door: they may
re-export from every layer. Run this file as a script for a report:
``python tests/unit/test_layers.py``.
"""

from __future__ import annotations

import ast
import functools
import graphlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "asynctasq"

LAYERS: tuple[frozenset[str], ...] = (
    frozenset(
        {
            "jobs",
            "lifecycle",
            "clock",
            "errors",
            "redaction",
            "config",
            "checks",
            "config_values",
            "early_signals",
            "early_gc",
            "schedules",
            "expiry",
            "ratelimit",
            "dedup",
        }
    ),
    frozenset({"serialization"}),
    frozenset({"tasks"}),
    frozenset({"drivers"}),
    frozenset({"core"}),
    frozenset({"operations", "queues", "results", "flow"}),
    frozenset({"cli", "dashboard", "testing", "contrib"}),
)
FRONT_DOOR = frozenset({"asynctasq", "asynctasq.__main__"})


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the imported module (asynctasq.*)
    line: int
    lazy: bool  # inside a function
    typing_only: bool  # under `if TYPE_CHECKING`
    justified: bool  # a comment on its line or just above


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _resolve(node: ast.ImportFrom, source: str, is_package: bool, known: set[str]) -> list[str]:
    if node.level:
        base = source.split(".")
        base = base[: len(base) - node.level + (1 if is_package else 0)]
        stem = ".".join([*base, node.module] if node.module else base)
    else:
        stem = node.module or ""
    # `from asynctasq.x import y`: y may be a submodule or a name of x
    return [f"{stem}.{a.name}" if f"{stem}.{a.name}" in known else stem for a in node.names]


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(source: str, path: Path, known: set[str]) -> Iterator[Import]:
    text = path.read_text()
    lines = text.splitlines()
    is_package = path.name == "__init__.py"

    def commented(first: int, last: int) -> bool:
        """A comment on lines first..last (1-based), or on one of the two above."""
        return any("#" in line for line in lines[max(first - 3, 0) : last])

    def targets(node: ast.Import | ast.ImportFrom) -> list[str]:
        if isinstance(node, ast.Import):
            return [a.name for a in node.names]
        return _resolve(node, source, is_package, known)

    def visit(body: list[ast.stmt], lazy: bool, typing_only: bool) -> Iterator[Import]:
        run_start = 0  # first line of the run of imports this one belongs to
        for stmt in body:
            if isinstance(stmt, ast.Import | ast.ImportFrom):
                run_start = run_start or stmt.lineno
                why = commented(run_start, stmt.end_lineno or stmt.lineno)
                for target in dict.fromkeys(targets(stmt)):
                    if target == "asynctasq" or target.startswith("asynctasq."):
                        yield Import(source, target, stmt.lineno, lazy, typing_only, why)
                continue
            run_start = 0
            if isinstance(stmt, ast.If) and _is_type_checking(stmt.test):
                yield from visit(stmt.body, lazy, True)
                yield from visit(stmt.orelse, lazy, typing_only)
                continue
            inner = lazy or isinstance(stmt, ast.FunctionDef | ast.AsyncFunctionDef)
            for field in ("body", "orelse", "finalbody"):
                yield from visit(getattr(stmt, field, []), inner, typing_only)
            for clause in [*getattr(stmt, "handlers", []), *getattr(stmt, "cases", [])]:
                yield from visit(clause.body, inner, typing_only)

    yield from visit(ast.parse(text).body, False, False)


@functools.cache
def all_imports() -> tuple[Import, ...]:
    found = modules()
    known = set(found)
    return tuple(imp for name, path in found.items() for imp in imports_of(name, path, known))


def layer_of(module: str) -> int | None:
    parts = module.split(".")
    if module in FRONT_DOOR or len(parts) < 2:
        return None
    for level, names in enumerate(LAYERS):
        if parts[1] in names:
            return level
    raise AssertionError(
        f"{module} is in no layer: add {parts[1]!r} to LAYERS in tests/unit/test_layers.py"
    )


def cycle(imports: Iterable[Import]) -> list[str]:
    """One import cycle (as a closed path), or [] when there is none. Lazy imports
    count; imports under TYPE_CHECKING and of a module's own package do not."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        if not imp.typing_only and not imp.source.startswith(imp.target + "."):
            graph.setdefault(imp.source, set()).add(imp.target)
    try:
        graphlib.TopologicalSorter(graph).prepare()
    except graphlib.CycleError as exc:
        return list(reversed(exc.args[1]))  # in import order: a imports b imports...
    return []


def upward(imports: Iterable[Import]) -> list[str]:
    bad = []
    for imp in imports:
        low, high = layer_of(imp.source), layer_of(imp.target)
        if low is None or high is None or high <= low:
            continue
        where = "lazy " if imp.lazy else "type-only " if imp.typing_only else ""
        bad.append(
            f"{imp.source}:{imp.line} {where}imports {imp.target}: layer "
            f"{'/'.join(sorted(LAYERS[high]))} is above {'/'.join(sorted(LAYERS[low]))}"
        )
    return bad


def unexplained_lazy(imports: Iterable[Import]) -> list[str]:
    return [
        f"{imp.source}:{imp.line} imports {imp.target} inside a function without a comment "
        "saying why"
        for imp in imports
        # the package's own __init__ has run already: importing from it is no lazy import
        if imp.lazy and not imp.justified and not imp.source.startswith(imp.target + ".")
    ]


def test_no_import_cycles() -> None:
    assert cycle(all_imports()) == []


def test_layers_read_one_way() -> None:
    assert upward(all_imports()) == []


def test_lazy_imports_say_why() -> None:
    assert unexplained_lazy(all_imports()) == []


def test_the_checks_can_fail() -> None:
    """The checks see a cycle and an upward import when there is one."""
    fake = [
        Import("asynctasq.tasks.base", "asynctasq.core.dispatcher", 1, True, False, True),
        Import("asynctasq.core.dispatcher", "asynctasq.tasks.base", 1, False, False, False),
    ]
    assert sorted(set(cycle(fake))) == ["asynctasq.core.dispatcher", "asynctasq.tasks.base"]
    assert len(upward(fake)) == 1
    lazy = Import("asynctasq.jobs", "asynctasq.errors", 9, True, False, False)
    assert len(unexplained_lazy([lazy])) == 1


if __name__ == "__main__":
    every = all_imports()
    for line in [" -> ".join(cycle(every))] if cycle(every) else []:
        print("cycle:", line)
    for line in upward(every):
        print("upward:", line)
    for line in unexplained_lazy(every):
        print("unexplained:", line)

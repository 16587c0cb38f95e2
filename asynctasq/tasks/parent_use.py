"""Which task classes read their parents' results.

A child job's parents' results are read from the broker before it runs, so that
``self.parent_results`` and ``self.previous_result`` are plain attributes. That read
is a round trip per child (shared between the children a worker starts together), a
cost that most jobs of a big DAG never use: a job that only has to run after its
parents does not look at what they returned. So the worker reads them for a task
class whose own code names ``parent_results`` or ``previous_result`` (found once per
class, in its methods and the functions nested in them), or that says so with
``reads_parent_results = True``. ``reads_parent_results = False`` skips the read
whatever the code says. A task that reads them some other way (a helper function
outside the class given ``self``) sets ``reads_parent_results = True``: without it,
``self.parent_results`` raises an error saying so rather than answer empty.
"""

from __future__ import annotations

import types
from typing import Any

__all__ = ["NAMES", "reads_parent_results"]

#: the names whose mention in a task's code means it reads its parents' results
NAMES = frozenset({"parent_results", "previous_result", "_parent_results"})

#: classes of the library itself: their code names the attributes to define them
_LIBRARY = "asynctasq."

#: decorators followed down ``__wrapped__`` at most
_MAX_WRAPPERS = 10

_found: dict[type, bool] = {}


def reads_parent_results(cls: type) -> bool:
    """Whether the worker reads the parents' results of ``cls``'s jobs."""
    declared = getattr(cls, "reads_parent_results", None)
    if declared is not None:
        return bool(declared)
    found = _found.get(cls)
    if found is None:
        found = _found[cls] = any(_class_mentions(k) for k in cls.__mro__)
    return found


def _class_mentions(klass: type) -> bool:
    if klass is object or klass.__module__.startswith(_LIBRARY):
        return False
    return any(_mentions(code) for value in vars(klass).values() for code in _codes(value))


def _codes(value: Any) -> list[types.CodeType]:
    """The code objects behind a class attribute (functions, static and class
    methods, properties, decorated functions that keep ``__wrapped__``)."""
    if isinstance(value, staticmethod | classmethod):
        value = value.__func__
    if isinstance(value, property):
        return [c for f in (value.fget, value.fset, value.fdel) for c in _codes(f)]
    codes = []
    for _ in range(_MAX_WRAPPERS):
        code = getattr(value, "__code__", None)
        if isinstance(code, types.CodeType):
            codes.append(code)
        value = getattr(value, "__wrapped__", None)
        if value is None:
            break
    return codes


def _mentions(code: types.CodeType) -> bool:
    if not NAMES.isdisjoint(code.co_names):
        return True
    for const in code.co_consts:  # getattr(self, "parent_results"), nested functions
        if isinstance(const, str) and const in NAMES:
            return True
        if isinstance(const, types.CodeType) and _mentions(const):
            return True
    return False

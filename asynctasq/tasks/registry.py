"""Task name -> task class. A worker runs only what is in here."""

from __future__ import annotations

import fnmatch
import importlib
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from asynctasq.errors import TaskDefinitionError, UnknownTaskError

if TYPE_CHECKING:
    from asynctasq.tasks.base import BaseTask

__all__ = ["TaskRegistry", "import_task_modules", "registry"]


class TaskRegistry:
    def __init__(self) -> None:
        self._tasks: dict[str, type[BaseTask[object]]] = {}
        self._tried: set[str] = set()  # modules import_allowed() imported or tried

    def add(self, cls: type[BaseTask[object]]) -> None:
        name = cls.task_name
        existing = self._tasks.get(name)
        same_definition = existing is not None and (
            existing.__module__,
            existing.__qualname__,
        ) == (cls.__module__, cls.__qualname__)
        if existing is not None and not same_definition:
            raise TaskDefinitionError(
                f"task name {name!r} is taken by {existing.__module__}.{existing.__qualname__}; "
                f"give {cls.__qualname__} another name: class {cls.__name__}(..., name='...')"
            )
        self._tasks[name] = cls  # a re-imported module replaces its own classes

    def get(self, name: str, allow: Iterable[str] = ()) -> type[BaseTask[object]]:
        """The class for a job's task name, or UnknownTaskError; never imports."""
        cls = self._tasks.get(name)
        patterns = list(allow)
        if cls is None or (patterns and not any(fnmatch.fnmatchcase(name, p) for p in patterns)):
            raise UnknownTaskError(name)
        return cls

    def import_allowed(self, name: str, allow: Iterable[str]) -> bool:
        """Import the module an unknown task's name points into, when the name is
        allow-listed (``ASYNCTASQ_TASK_ALLOW_LIST=myapp.*``: the trusted configuration
        says which modules a job's name may load); whether the task is known now.

        ``myapp.tasks.send_email`` tries ``myapp.tasks``, then ``myapp``; a module is
        tried once per process."""
        patterns = list(allow)
        if not patterns or not any(fnmatch.fnmatchcase(name, p) for p in patterns):
            return False
        module = name
        while "." in module:
            module = module.rpartition(".")[0]
            if module in self._tried:
                continue
            self._tried.add(module)
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as exc:
                if exc.name is not None and module.startswith(exc.name):
                    continue  # not a module: try its package
                raise
            break
        return name in self._tasks

        return name in self._tasks

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._tasks))

    def __len__(self) -> int:
        return len(self._tasks)


registry = TaskRegistry()


def import_task_modules(modules: Iterable[str]) -> None:
    """Import the modules a worker was told to load (trusted configuration, never a
    payload), which registers the tasks they define."""
    for module in modules:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            raise ImportError(
                f"cannot import task module {module!r} ({exc}); check --import / "
                "ASYNCTASQ_TASK_MODULES and that the worker runs from your project directory"
            ) from exc

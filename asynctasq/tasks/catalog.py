"""``TASK_REGISTRY`` and ``list_tasks()``: the registered tasks as AsyncMQ users
read them (task id -> function or class, queue, retries, progress).

A read-only, live view of the registry (``registry.py``): a task defined after you
took it shows up in it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from asynctasq.config import get_global_config
from asynctasq.tasks.registry import TaskRegistry, registry

__all__ = ["TASK_REGISTRY", "TaskInfo", "list_tasks"]


@dataclass(frozen=True, slots=True)
class TaskInfo:
    """What is known of one registered task. ``info["queue"]`` reads like
    ``info.queue``, for code written against AsyncMQ's dictionaries."""

    task_id: str
    #: the decorated function, or the task class
    func: Any
    #: the task class (for a decorated function, the class @task built)
    task_class: type
    queue: str
    #: retries after the first attempt (the settings' default when the task sets none)
    retries: int
    progress: bool
    #: seconds a job may wait once due before it expires (docs/flow-control.md)
    ttl: float | None = None

    def __getitem__(self, key: str) -> Any:
        if key not in self.__dataclass_fields__:
            raise KeyError(key)
        return getattr(self, key)


class TaskCatalog(Mapping[str, TaskInfo]):
    """Task id -> TaskInfo; read-only."""

    def __init__(self, tasks: TaskRegistry) -> None:
        self._tasks = tasks

    def __getitem__(self, task_id: str) -> TaskInfo:
        if task_id not in self._tasks:
            raise KeyError(task_id)
        cls = self._tasks._tasks[task_id]
        config = cls.task_config
        settings = get_global_config()
        attempts = config.get("max_attempts")
        return TaskInfo(
            task_id=task_id,
            func=getattr(cls, "function", cls),
            task_class=cls,
            queue=config.get("queue") or settings.default_queue,
            retries=settings.default_max_retries if attempts is None else attempts - 1,
            progress=bool(getattr(cls, "progress", False)),
            ttl=config.get("ttl"),
        )

    def __iter__(self) -> Iterator[str]:
        return iter(self._tasks)

    def __len__(self) -> int:
        return len(self._tasks)

    def __repr__(self) -> str:
        return f"TASK_REGISTRY({sorted(self)!r})"


TASK_REGISTRY: Mapping[str, TaskInfo] = TaskCatalog(registry)


def list_tasks() -> dict[str, TaskInfo]:
    """Every registered task: task id -> TaskInfo (a snapshot)."""
    return dict(TASK_REGISTRY.items())

"""Tasks: classes (or decorated functions) whose instances are jobs."""

from asynctasq.tasks.base import BaseTask, DispatchOptions, TaskConfig
from asynctasq.tasks.catalog import TASK_REGISTRY, TaskInfo, list_tasks
from asynctasq.tasks.function import task
from asynctasq.tasks.kinds import AsyncProcessTask, AsyncTask, SyncProcessTask, SyncTask
from asynctasq.tasks.registry import TaskRegistry, import_task_modules, registry
from asynctasq.tasks.retry import Backoff

__all__ = [
    "TASK_REGISTRY",
    "AsyncProcessTask",
    "AsyncTask",
    "Backoff",
    "BaseTask",
    "DispatchOptions",
    "SyncProcessTask",
    "SyncTask",
    "TaskConfig",
    "TaskInfo",
    "TaskRegistry",
    "import_task_modules",
    "list_tasks",
    "registry",
    "task",
]

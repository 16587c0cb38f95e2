"""asynctasq: an async-first, class-based background task queue.

from asynctasq import AsyncTask

class SendEmail(AsyncTask[None]):
    to: str

    async def execute(self) -> None: ...

job_id = await SendEmail(to="a@b.c").on_queue("emails").delay(5).dispatch()
"""

from asynctasq.config import Config, ConfigError, Settings, get_global_config, set_global_config
from asynctasq.core.dispatcher import Dispatcher, dispatch_many
from asynctasq.core.driver_factory import DriverFactory
from asynctasq.core.worker import Worker
from asynctasq.errors import (
    AsyncTasqError,
    PermanentError,
    PoisonJobError,
    ProcessCrashedError,
    TaskDefinitionError,
    TaskTimeoutError,
    UnknownTaskError,
)
from asynctasq.jobs import Job, JobState, QueueStats, WorkerInfo
from asynctasq.serialization import TypeHook, register_hook
from asynctasq.tasks import (
    AsyncProcessTask,
    AsyncTask,
    Backoff,
    BaseTask,
    SyncProcessTask,
    SyncTask,
    TaskConfig,
    task,
)

__version__ = "0.1.0"

__all__ = [
    "AsyncProcessTask",
    "AsyncTask",
    "AsyncTasqError",
    "Backoff",
    "BaseTask",
    "Config",
    "ConfigError",
    "Dispatcher",
    "DriverFactory",
    "Job",
    "JobState",
    "PermanentError",
    "PoisonJobError",
    "ProcessCrashedError",
    "QueueStats",
    "Settings",
    "SyncProcessTask",
    "SyncTask",
    "TaskConfig",
    "TaskDefinitionError",
    "TaskTimeoutError",
    "TypeHook",
    "UnknownTaskError",
    "Worker",
    "WorkerInfo",
    "__version__",
    "dispatch_many",
    "get_global_config",
    "register_hook",
    "set_global_config",
    "task",
]

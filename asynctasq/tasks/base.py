"""BaseTask: a job's arguments, its body and its hooks, in one class.

Subclass one of the kinds in ``kinds.py``. Constructor keyword arguments are the
job's arguments and become attributes; the worker rebuilds the instance from them.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import inspect
import operator
import time
import typing
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar, Generic, Literal, Self, TypedDict, TypeVar

from asynctasq.checks import (
    MAX_EPOCH,
    check_attempts,
    check_epoch,
    check_priority,
    check_seconds,
)
from asynctasq.errors import PermanentError, TaskDefinitionError
from asynctasq.jobs import parent_ids, parent_policy, validate_name
from asynctasq.tasks.cancellation import is_marked
from asynctasq.tasks.dispatching import default_dispatcher
from asynctasq.tasks.handle import JobHandle
from asynctasq.tasks.parents import EMPTY, ParentResults
from asynctasq.tasks.registry import registry
from asynctasq.tasks.retry import RetryDelay
from asynctasq.tasks.validation import attempts_from_retries, check_task_config

if typing.TYPE_CHECKING:
    from asynctasq.jobs import Job

__all__ = ["RESERVED_NAMES", "BaseTask", "DispatchOptions", "TaskConfig"]

T = TypeVar("T")
Executor = Literal["async", "thread", "process"]


class TaskConfig(TypedDict, total=False):
    """Class-level defaults of a task; a subclass's values override its parent's."""

    queue: str
    max_attempts: int  # attempts in all, the first included
    max_retries: int  # or: retries after the first attempt (max_attempts - 1)
    retry_delay: RetryDelay  # seconds (fixed) or a Backoff policy
    timeout: float | None  # seconds a job may run
    priority: int  # lower runs first
    visibility_timeout: float  # lease seconds, when longer than the worker's
    # repeatable and cron jobs (docs/scheduling.md): workers fire them, once per slot
    cron: str  # a cron expression, e.g. "*/5 * * * *"
    repeat_every: float  # or: seconds between two runs
    timezone: str  # of the cron expression (default UTC)
    # flow control (docs/flow-control.md)
    ttl: float  # seconds a job may wait once due; not started by then: expired
    rate_limit: int  # starts per rate_interval across all workers (0 blocks)
    rate_interval: float  # seconds (default 1.0)
    rate_limit_key: Callable[[Any], Any]  # task -> key: rate_limit per key, each its own bucket
    rate_burst: int  # the bucket's size: starts at once at most (default: rate_limit)
    # deduplication (docs/flow-control.md): a key, or a function of the task instance
    unique_key: str | Callable[[Any], str]
    unique_mode: str  # "until_finished" (default), "until_started", "throttle", "debounce"
    unique_for: float  # the window of throttle and debounce, in seconds
    # concurrency keys (docs/flow-control.md): at most max_concurrency jobs of one key
    # running at once across every worker; a key or a function of the task instance
    concurrency_key: str | Callable[[Any], str]
    max_concurrency: int  # default 1 with a key; alone: the key is the task's name


class DispatchOptions(TypedDict, total=False):
    """Per-job overrides set by the fluent methods; they travel with the job."""

    queue: str
    delay: float
    run_at: float
    retry_delay: float
    priority: int
    timeout: float | None
    max_attempts: int
    unique_key: str
    unique_mode: str  # docs/flow-control.md: until_finished, until_started, throttle, debounce
    unique_for: float  # seconds: the window of throttle and debounce
    concurrency_key: str  # docs/flow-control.md
    max_concurrency: int
    depends_on: tuple[str, ...]  # parent job ids (workflows: docs/workflows.md)
    on_parent_failure: str  # "fail", "cancel" or "run"
    scheduled_for: float  # set by the scheduler: the slot a schedule's job covers
    ttl: float  # seconds the job may wait once due (docs/flow-control.md)


RESERVED_NAMES = frozenset(
    {
        "config",
        "run",
        "execute",
        "dispatch",
        "failed",
        "should_retry",
        "on_queue",
        "delay",
        "retry_after",
        "with_options",
        "report_progress",
        "report_progress_sync",
        "task_name",
        "executor",
        "is_cancelled",
        "parent_results",
        "previous_result",
        "reads_parent_results",
    }
)
_CONFIG_KEYS = frozenset(TaskConfig.__annotations__)
_private = operator.methodcaller("startswith", "_")


def _check_argument_names(owner: str, names: typing.Iterable[str]) -> None:
    for name in names:
        if name in RESERVED_NAMES or name.startswith("_"):
            raise TaskDefinitionError(
                f"{owner}: argument name {name!r} is reserved by asynctasq "
                f"(reserved: {', '.join(sorted(RESERVED_NAMES))}, and any leading underscore); "
                "rename the argument"
            )


class BaseTask(Generic[T]):
    task_name: ClassVar[str]
    executor: ClassVar[Executor]
    config: ClassVar[TaskConfig] = {}
    #: the merged config of this class and its parents
    task_config: ClassVar[TaskConfig] = {}

    # set on the instance the worker runs
    _task_id: str | None
    _attempts: int
    _job: Job | None
    _args: dict[str, Any]
    _options: DispatchOptions
    _progress_sink: Any
    _parent_results: ParentResults
    #: a process task's parents' outcomes, still encoded (its body decoded them in the
    #: pool process): decoded in the worker only if its ``failed()`` hook runs
    _parent_record: dict[str, Any] | None = None
    _required_fields: ClassVar[tuple[str, ...]] = ()
    _declared_fields: ClassVar[frozenset[str]] = frozenset()
    _init_signature: ClassVar[inspect.Signature | None] = None
    _plain_construction: ClassVar[bool] = False
    #: whether the worker reads the parents' results before a job runs (None: when
    #: the class's code names parent_results or previous_result; tasks/parent_use.py)
    reads_parent_results: ClassVar[bool | None] = None

    def __init_subclass__(
        cls, *, abstract: bool = False, name: str | None = None, **kw: Any
    ) -> None:
        super().__init_subclass__(**kw)
        merged: TaskConfig = {}
        for klass in reversed(cls.__mro__):
            own = klass.__dict__.get("config")
            if isinstance(own, Mapping):
                merged.update(attempts_from_retries(klass.__qualname__, own))  # type: ignore[typeddict-item]
        unknown = set(merged) - _CONFIG_KEYS
        if unknown:
            raise TaskDefinitionError(
                f"{cls.__qualname__}.config has unknown key(s) {sorted(unknown)}; "
                f"known: {', '.join(sorted(_CONFIG_KEYS))}"
            )
        cls.task_config = check_task_config(cls.__qualname__, merged)  # type: ignore[assignment]
        cls._plain_construction = False
        if abstract:
            return
        fields = _declared_fields(cls)
        _check_argument_names(cls.__qualname__, fields)
        # worked out once per class: building a task is on every dispatch's hot path
        cls._required_fields = tuple(f for f in fields if not hasattr(cls, f))
        cls._declared_fields = frozenset(fields)
        custom_init = cls.__init__ is not BaseTask.__init__
        cls._init_signature = inspect.signature(cls.__init__) if custom_init else None
        # what _for_job may build in one step: the default constructor, nothing that would
        # see the fields set (its own __new__ or __setattr__), a class that can be built
        cls._plain_construction = (
            not custom_init
            and cls.__new__ is BaseTask.__new__
            and cls.__setattr__ is object.__setattr__
            and getattr(cls, "executor", None) is not None
        )
        init = cls.__dict__.get("__init__")
        if init is not None:
            params = list(inspect.signature(init).parameters.values())[1:]
            if any(p.kind is p.VAR_POSITIONAL for p in params):
                raise TaskDefinitionError(
                    f"{cls.__qualname__}.__init__ takes *args: a job's arguments need names"
                )
            _check_argument_names(
                cls.__qualname__, (p.name for p in params if p.kind is not p.VAR_KEYWORD)
            )
        module = "__main__" if cls.__module__ == "__mp_main__" else cls.__module__
        cls.task_name = validate_name("task", name or f"{module}.{cls.__qualname__}")
        registry.add(cls)  # type: ignore[arg-type]

    def __new__(cls, *args: Any, **kwargs: Any) -> Self:
        if getattr(cls, "executor", None) is None or "task_name" not in cls.__dict__:
            raise TaskDefinitionError(
                f"{cls.__qualname__} is abstract: subclass AsyncTask, SyncTask, "
                "AsyncProcessTask or SyncProcessTask"
            )
        self = super().__new__(cls)
        # the default constructor (most tasks): keyword arguments only, taken as given
        self._args = (
            dict(kwargs)
            if cls._init_signature is None and not args
            else _bind_arguments(cls, args, kwargs)
        )
        self._options = {}
        self._task_id = None
        self._attempts = 0
        self._job = None
        self._progress_sink = None
        self._parent_results = EMPTY
        return self

    def __init__(self, **kwargs: Any) -> None:
        """The default constructor: keyword arguments become attributes."""
        cls = type(self)
        # every dispatch and every job a worker runs builds one: checks at C speed
        if kwargs and (not RESERVED_NAMES.isdisjoint(kwargs) or any(map(_private, kwargs))):
            _check_argument_names(cls.__qualname__, kwargs)
        if not all(map(kwargs.__contains__, cls._required_fields)):
            missing = [f for f in cls._required_fields if f not in kwargs]
            raise TypeError(f"{cls.__qualname__} missing argument(s): {', '.join(missing)}")
        if not cls._declared_fields.issuperset(kwargs):  # a typo fails here, not in a worker
            unknown = sorted(set(kwargs) - cls._declared_fields)
            raise TypeError(
                f"{cls.__qualname__} got undeclared argument(s) {', '.join(unknown)}: declare "
                f"each as a class attribute (`{unknown[0]}: <type>`) or fix the name"
            )
        self.__dict__.update(kwargs)

    @classmethod
    def _for_job(cls, args: dict[str, Any], job: Job) -> Self:
        """The instance a worker runs for ``job``: ``cls(**args)`` with the job's fields
        set. A task with the default constructor is built without the layers of a
        call (the same attributes, the same checks: ``__init__`` runs)."""
        if not cls._plain_construction or "task_name" not in cls.__dict__:
            task = cls(**args)  # (an abstract class: __new__ says so)
            task._task_id, task._attempts, task._job = job.id, job.attempts, job
            return task
        task = object.__new__(cls)
        fields = task.__dict__  # what __new__ sets, then the job's fields
        fields["_args"] = dict(args)
        fields["_options"] = {}
        fields["_task_id"] = job.id
        fields["_attempts"] = job.attempts
        fields["_job"] = job
        fields["_progress_sink"] = None
        fields["_parent_results"] = EMPTY
        BaseTask.__init__(task, **args)
        return task

    # -- the body and hooks ----------------------------------------------------------

    def execute(self) -> Any:
        """The job's body; its return value is the job's result."""
        raise NotImplementedError

    def should_retry(self, exception: BaseException) -> bool:
        """Whether this exception is worth another attempt (attempts permitting)."""
        return not isinstance(exception, PermanentError)

    def failed(self, exception: BaseException) -> Any:
        """Runs once when the job is given up (no attempts left or not retryable)."""
        return None

    # -- fluent dispatch -------------------------------------------------------------

    def on_queue(self, queue: str) -> Self:
        self._options["queue"] = validate_name("queue", queue)
        return self

    def delay(self, delay: float | dt.timedelta | dt.datetime) -> Self:
        """Run no sooner than ``delay`` seconds from dispatch (or at a datetime; one in
        the past runs at once)."""
        if isinstance(delay, dt.datetime):
            moment = delay if delay.tzinfo else delay.astimezone()
            try:
                epoch = moment.timestamp()
            except (OverflowError, ValueError, OSError):
                epoch = -1.0 if moment.year < 1970 else MAX_EPOCH + 1
            self._options.pop("delay", None)
            self._options["run_at"] = check_epoch("delay", max(epoch, 0.0))
            return self
        seconds = check_seconds("delay", delay)
        self._options.pop("run_at", None)
        self._options["delay"] = seconds
        return self

    @property
    def scheduled_for(self) -> float | None:
        """In a job a schedule fired: the slot it covers (epoch seconds), the same on
        a retry, whenever it runs; None for other jobs (docs/scheduling.md)."""
        return self._options.get("scheduled_for")

    @property
    def parent_results(self) -> ParentResults:
        """In a running job with parents (``depends_on``): each parent's result, by
        job id and by the name a flow gave it; a parent that did not complete
        (``on_parent_failure="run"``) is a ``ParentFailure`` (docs/workflows.md)."""
        return self._parent_results.readable(type(self))

    @property
    def previous_result(self) -> Any:
        """The canvas spelling: the previous step's result in a ``chain``, the list
        of the group's results in a ``chord`` callback (docs/workflows.md)."""
        return self._parent_results.readable(type(self)).previous

    def is_cancelled(self) -> bool:
        """In a running job: whether it was cancelled meanwhile (``job cancel``, on a
        broker with RunningCancellation). A blocking body in a thread cannot be
        interrupted: it checks this to stop early (docs/flow-control.md)."""
        return self._task_id is not None and is_marked(self._task_id)

    def retry_after(self, seconds: float | dt.timedelta) -> Self:
        """Wait exactly this long before each retry of this job."""
        self._options["retry_delay"] = check_seconds("retry_after", seconds)
        return self

    def with_options(
        self,
        *,
        priority: int | None = None,
        timeout: float | None = None,
        max_attempts: int | None = None,
        unique_key: str | None = None,
        depends_on: Iterable[str] | None = None,
        on_parent_failure: str | None = None,
        ttl: float | dt.timedelta | None = None,
        unique_mode: str | None = None,
        unique_for: float | dt.timedelta | None = None,
        concurrency_key: str | None = None,
        max_concurrency: int | None = None,
    ) -> Self:
        """``depends_on``: ids of jobs that must complete before this one runs;
        ``on_parent_failure``: what it does when one fails instead ("fail", the
        default; "cancel"; "run"). See docs/workflows.md. ``unique_key``: a job
        with this key is not stored twice while the first holds it, by
        ``unique_mode`` ("until_finished", the default; "until_started";
        "throttle" and "debounce", over a window of ``unique_for`` seconds). See
        docs/flow-control.md. ``concurrency_key``: at most ``max_concurrency`` jobs
        (default 1) with this key run at once across every worker."""
        if priority is not None:
            self._options["priority"] = check_priority("priority", priority)
        if timeout is not None:
            self._options["timeout"] = check_seconds("timeout", timeout, positive=True)
        if max_attempts is not None:
            self._options["max_attempts"] = check_attempts("max_attempts", max_attempts)
        if unique_key is not None:
            if not isinstance(unique_key, str) or not unique_key:
                raise ValueError(f"unique_key={unique_key!r} is not valid: expected some text")
            self._options["unique_key"] = unique_key
        if unique_mode is not None:
            self._options["unique_mode"] = unique_mode
        if unique_for is not None:
            self._options["unique_for"] = check_seconds("unique_for", unique_for, positive=True)
        if concurrency_key is not None:
            if not isinstance(concurrency_key, str) or not concurrency_key:
                raise ValueError(f"concurrency_key={concurrency_key!r}: expected some text")
            self._options["concurrency_key"] = concurrency_key
        if max_concurrency is not None:
            self._options["max_concurrency"] = check_attempts("max_concurrency", max_concurrency)
        if depends_on is not None:
            self._options["depends_on"] = parent_ids(depends_on)
        if on_parent_failure is not None:
            self._options["on_parent_failure"] = parent_policy(on_parent_failure)
        if ttl is not None:
            self._options["ttl"] = check_seconds("ttl", ttl, positive=True)
        return self

    async def dispatch(
        self,
        *,
        connection: Any = None,
        depends_on: Iterable[str] | None = None,
        on_parent_failure: str | None = None,
    ) -> JobHandle[T]:
        """Send the job to the broker; returns its id (a ``JobHandle``: a str whose
        ``await handle.result(timeout=...)`` waits for the job's result).
        ``connection``: enqueue inside your own database transaction (postgres and
        mysql drivers); ``depends_on``: ids of jobs that must complete first (see
        ``with_options``)."""
        self.with_options(depends_on=depends_on, on_parent_failure=on_parent_failure)
        dispatcher = await default_dispatcher()
        job_id = await dispatcher.dispatch(self, connection=connection)
        return job_id if isinstance(job_id, JobHandle) else JobHandle(job_id)

    async def run(self) -> T:
        """Run the body here and now, without a broker (tests, scripts): in the mode
        its kind asks for (a thread for a blocking body, so the loop stays free; never
        the process pool)."""
        if getattr(type(self), "coroutine", False):
            return typing.cast(T, await self.execute())
        return typing.cast(T, await asyncio.to_thread(self.execute))

    # -- inside a running job -----------------------------------------------------------

    async def report_progress(self, progress: float, meta: Mapping[str, Any] | None = None) -> None:
        """Record how far the job is (0.0 to 1.0) and tell event subscribers."""
        if not 0.0 <= progress <= 1.0:
            raise ValueError("progress is a fraction between 0.0 and 1.0")
        if self._progress_sink is not None:
            await self._progress_sink(self, progress, dict(meta or {}))

    def report_progress_sync(self, progress: float, meta: Mapping[str, Any] | None = None) -> None:
        """report_progress for a blocking ``def execute`` (SyncTask, SyncProcessTask):
        returns once the worker recorded it."""
        if not 0.0 <= progress <= 1.0:
            raise ValueError("progress is a fraction between 0.0 and 1.0")
        if self._progress_sink is not None:
            self._progress_sink.report_blocking(self, progress, dict(meta or {}))

    def _run_at(self, now: float | None = None) -> float:
        now = time.time() if now is None else now
        if "run_at" in self._options:
            return self._options["run_at"]
        return now + self._options.get("delay", 0.0)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._args.items())
        return f"{type(self).__qualname__}({args})"


def _declared_fields(cls: type) -> list[str]:
    """Annotated class attributes that are arguments (not ClassVar, not private)."""
    fields = []
    for klass in reversed(cls.__mro__):
        if klass.__module__.startswith("asynctasq.tasks"):
            continue
        for name, hint in inspect.get_annotations(klass).items():
            text = hint if isinstance(hint, str) else repr(hint)
            if "ClassVar" in text or name in fields:
                continue
            fields.append(name)
    return fields


def _bind_arguments(
    cls: type[BaseTask[Any]], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    signature = cls._init_signature
    if signature is None:
        if args:
            raise TypeError(f"{cls.__qualname__}() takes keyword arguments only")
        return dict(kwargs)
    bound = signature.bind(None, *args, **kwargs)
    params = signature.parameters
    arguments: dict[str, Any] = {}
    for name, value in list(bound.arguments.items())[1:]:
        if params[name].kind is inspect.Parameter.VAR_KEYWORD:
            arguments.update(value)
        else:
            arguments[name] = value
    return arguments

"""Flows: a whole DAG of jobs added at once (``FlowProducer``), and the canvas
helpers built on it (``chain``, ``group``, ``chord``). docs/workflows.md.

    from asynctasq.flow import FlowProducer, Job

    ingest = Job(task_id="app.ingest", kwargs={"day": d})
    a = Job(task_id="app.transform_a", depends_on=[ingest.id], name="a")
    b = Job(task_id="app.transform_b", depends_on=[ingest.id], name="b")
    total = Job(task_id="app.aggregate", depends_on=[a.id, b.id])
    ids = await FlowProducer().add_flow("etl", [ingest, a, b, total])

``add_flow`` checks the DAG first (duplicate ids, a parent that is not a job of the
flow, cycles, task names the registry does not know when given one), then stores
every job or none in one atomic step (one transaction, one Lua script), with the
flow's record (``get_flow``). On PostgreSQL and MySQL, ``connection=`` adds the
flow inside your own transaction: it exists iff you commit.

A job with ``cron=`` (the reference documentation's spelling) is a repeatable job: it is
stored as a schedule (docs/scheduling.md), every running worker fires its slots, each
once, and its entry in what ``add_flow`` returns is the schedule's id. It stands alone:
it cannot have parents nor be one.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from asynctasq.core.backends import Backend, connect_backend, dispatcher_for
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.core.results import NAMES_OPTION, SHAPE_OPTION, get_many
from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import Dependencies, Flows, Results, require
from asynctasq.drivers.dependencies import DependencyCycle, check_batch
from asynctasq.jobs import Job as JobRecord
from asynctasq.jobs import JobState, new_job_id, parent_ids, parent_policy, validate_name
from asynctasq.queues import Queue
from asynctasq.schedules import valid_cron
from asynctasq.serialization.payload import decode_payload, encode_payload
from asynctasq.tasks.base import BaseTask
from asynctasq.tasks.handle import JobHandle
from asynctasq.tasks.registry import TaskRegistry

__all__ = [
    "FlowError",
    "FlowJob",
    "FlowProducer",
    "FlowRun",
    "Job",
    "chain",
    "chord",
    "get_flow",
    "group",
]


class FlowError(ValueError):
    """A flow that cannot be added as given (nothing was stored)."""


class Job:
    """One job of a flow. Its ``id`` exists from construction (generated, or given
    with ``id=``), so other jobs can name it in ``depends_on``, which may be changed
    until the flow is added. ``queue`` overrides the flow's; ``name`` is how children
    find its result in ``self.parent_results`` (besides its id)."""

    def __init__(
        self,
        task_id: str,
        args: Sequence[Any] | None = None,
        kwargs: Mapping[str, Any] | None = None,
        depends_on: Iterable[str] | None = None,
        id: str | None = None,
        queue: str | None = None,
        name: str | None = None,
        *,
        on_parent_failure: str = "fail",
        retries: int | None = None,
        delay: float | None = None,
        priority: int | None = None,
        timeout: float | None = None,
        ttl: float | None = None,
        cron: str | None = None,
        timezone: str = "UTC",
    ) -> None:
        self.task_id = validate_name("task", task_id)
        #: a repeatable job (a schedule), see the module's docstring
        self.cron = cron
        self.timezone = timezone
        self._id_given = id is not None
        self.args = list(args or ())
        self.kwargs = dict(kwargs or {})
        self.depends_on: list[str] = list(parent_ids(depends_on or ()))
        self.id = id or new_job_id()
        self.queue = None if queue is None else validate_name("queue", queue)
        self.name = name
        self.on_parent_failure = parent_policy(on_parent_failure)
        self.options: dict[str, Any] = {
            "retries": retries,
            "delay": delay,
            "priority": priority,
            "timeout": timeout,
            "ttl": ttl,
        }
        #: set when the flow is added
        self.flow_id: str | None = None

    def __repr__(self) -> str:
        return f"Job({self.task_id!r}, id={self.id!r}, depends_on={self.depends_on!r})"


@dataclass(frozen=True, slots=True)
class FlowJob:
    """One job of a stored flow, as ``get_flow`` reports it (``state`` None: the
    broker forgot it, after the result retention)."""

    flow_id: str
    job_id: str
    name: str | None
    state: JobState | None
    error: str | None = None


class FlowProducer:
    """Adds whole DAGs of jobs atomically. ``backend``: a driver or a broker URL
    (default: the configured broker); ``registry``: when given (e.g.
    ``asynctasq.tasks.registry.registry``), every ``task_id`` must be in it."""

    def __init__(self, backend: Backend = None, *, registry: TaskRegistry | None = None) -> None:
        self.backend = backend
        self.registry = registry

    async def add_flow(
        self, queue: str, jobs: Sequence[Job], *, connection: Any = None
    ) -> list[JobHandle[Any]]:
        """Store every job of ``jobs`` (or none) in ``queue`` (unless a job names its
        own); their ids, in the order given (handles: ``await ids[-1].result()``)."""
        dispatcher = await dispatcher_for(self.backend)
        repeating = [job for job in jobs if job.cron is not None]
        if not repeating:
            built = self.build(dispatcher, queue, jobs)
            return await _add(dispatcher.driver, built, jobs, connection)
        check_flow(jobs, self.registry)  # all of it, before anything is stored
        if connection is not None:
            raise FlowError(
                "a flow with a cron job cannot be added in your transaction "
                "(connection=): schedules are stored apart; add the cron jobs on their own"
            )
        driver = dispatcher.driver
        ids: dict[str, JobHandle[Any]] = {}
        for job in repeating:
            schedule_id = job.id if job._id_given else f"{job.queue or queue}:{job.task_id}"
            stored = await Queue(job.queue or queue, backend=driver).add_repeatable(
                job.task_id,
                cron=job.cron,
                args=job.args,
                kwargs=job.kwargs,
                id=schedule_id,
                timezone=job.timezone,
                retries=job.options["retries"],
                priority=job.options["priority"],
                timeout=job.options["timeout"],
            )
            ids[job.id] = JobHandle(stored, driver)
        rest = [job for job in jobs if job.cron is None]
        if rest:
            added = await _add(driver, self.build(dispatcher, queue, rest), rest, connection)
            ids.update(zip((job.id for job in rest), added, strict=True))
        return [ids[job.id] for job in jobs]

    def build(self, dispatcher: Dispatcher, queue: str, jobs: Sequence[Job]) -> list[JobRecord]:
        """The job records of a flow, checked (FlowError); nothing is stored."""
        validate_name("queue", queue)
        check_flow(jobs, self.registry)
        flow_id = new_job_id()
        driver = dispatcher.driver
        now = time.time()
        names = {job.id: job.name for job in jobs if job.name}
        records = []
        for job in jobs:
            spec: dict[str, Any] = {"task_id": job.task_id, "args": job.args}
            spec["kwargs"] = job.kwargs
            spec.update({k: v for k, v in job.options.items() if v is not None})
            record = Queue(job.queue or queue, backend=driver)._job(dispatcher, spec, now)
            _finish(record, job, flow_id, names, dispatcher)
            records.append(record)
        return records


def check_flow(jobs: Sequence[Job], registry: TaskRegistry | None = None) -> None:
    """Refuse a flow that cannot run as given, with what is wrong (FlowError)."""
    if not jobs:
        raise FlowError("a flow needs at least one job")
    ids: set[str] = set()
    for job in jobs:
        if not isinstance(job, Job):
            raise FlowError(f"a flow holds asynctasq.flow.Job objects, not {job!r}")
        if job.id in ids:
            raise FlowError(f"two jobs of the flow have the same id {job.id}")
        ids.add(job.id)
    repeating = {job.id for job in jobs if job.cron is not None}
    for job in jobs:
        if job.cron is not None:
            if not valid_cron(job.cron):
                raise FlowError(f"job {job.id}: cron={job.cron!r} is not a cron expression")
            if job.depends_on:
                raise FlowError(
                    f"job {job.id} ({job.task_id}) has cron= and depends_on: a repeatable "
                    "job fires on its schedule, not after other jobs"
                )
        if repeating & set(job.depends_on):
            raise FlowError(
                f"job {job.id} ({job.task_id}) depends on a cron job: a repeatable job "
                "runs many times and is nobody's parent"
            )
        for parent in job.depends_on:
            if parent not in ids:
                raise FlowError(
                    f"job {job.id} ({job.task_id}) depends on {parent}, which is not a job of "
                    "this flow (a dangling id): add that job to the flow, or fix the id"
                )
        if registry is not None and job.task_id not in registry._tasks:
            raise FlowError(
                f"job {job.id}: task {job.task_id!r} is not registered (import the module "
                "that defines it, or fix the name)"
            )
    names = [job.name for job in jobs if job.name]
    if len(names) != len(set(names)):
        raise FlowError("two jobs of the flow have the same name")
    try:
        check_batch(
            [
                JobRecord(task="-", payload=b"", id=j.id, depends_on=tuple(j.depends_on))
                for j in jobs
            ]
        )
    except DependencyCycle as exc:
        raise FlowError(f"the flow has a cycle: {' -> '.join(exc.cycle)}") from exc


def _finish(
    record: JobRecord,
    job: Job | None,
    flow_id: str,
    names: Mapping[str, str | None],
    dispatcher: Dispatcher,
    *,
    shape: str = "",
) -> None:
    """Make a built record a job of the flow: its id, parents, policy and flow; its
    parents' names (and a chord's shape) travel in its payload's options."""
    if job is not None:
        record.id = job.id
        record.depends_on = tuple(job.depends_on)
        record.on_parent_failure = job.on_parent_failure
        record.flow_name = job.name
    record.flow_id = flow_id
    parent_names = {p: n for p in record.depends_on if (n := names.get(p))}
    if parent_names or shape:
        args, options = decode_payload(record.payload, dispatcher.serializer)
        if parent_names:
            options[NAMES_OPTION] = parent_names
        if shape:
            options[SHAPE_OPTION] = shape
        record.payload = encode_payload(args, options, dispatcher.serializer)


async def _add(
    driver: Driver, built: list[JobRecord], jobs: Sequence[Job] | None, connection: Any
) -> list[JobHandle[Any]]:
    if any(record.depends_on for record in built):
        require(driver, Dependencies, "a flow with depends_on")
    require(driver, Flows, "FlowProducer")
    ids = await driver.enqueue(built, connection=connection)
    for job in jobs or ():
        job.flow_id = built[0].flow_id
    return [JobHandle(job_id, driver) for job_id in ids]


async def get_flow(flow_id: str, *, backend: Backend = None) -> list[FlowJob]:
    """Every job of a flow with its state, in the order they were added ([] for an
    unknown flow, or one forgotten after the result retention)."""
    driver = await connect_backend(backend)
    members = await require(driver, Flows, "get_flow").flow_job_ids(flow_id)
    found = await require(driver, Results, "get_flow").job_outcomes([i for i, _ in members])
    out = []
    for job_id, name in members:
        outcome = found.get(job_id)
        state = None if outcome is None else outcome.state
        error = None if outcome is None else outcome.error
        out.append(FlowJob(flow_id, job_id, name, state, error))
    return out


# -- canvas: chain, group, chord ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FlowRun:
    """What a canvas ``dispatch()`` returns: the flow's id, every job's handle in
    order, and the handles whose results ``result()`` returns (the last step's)."""

    flow_id: str
    handles: tuple[JobHandle[Any], ...]
    last: tuple[JobHandle[Any], ...]
    single: bool

    async def result(self, timeout: float | None = None) -> Any:
        """The last step's result (a group's: the list of its results, in order)."""
        values = await get_many(self.last, timeout=timeout, backend=self.last[0]._backend)
        return values[0] if self.single else values


class group:
    """Tasks that run independently (in parallel); as a step of a ``chain`` or the
    header of a ``chord``, the next step receives the list of their results."""

    def __init__(self, *tasks: BaseTask[Any]) -> None:
        if not tasks:
            raise FlowError("group() needs at least one task")
        for task in tasks:
            _check_task(task)
        self.tasks = tasks

    async def dispatch(self, *, backend: Backend = None, connection: Any = None) -> FlowRun:
        return await _dispatch([self], backend, connection)


class chain:
    """Steps that run one after another, each receiving the previous step's result
    as ``self.previous_result`` (after a ``group``: the list of its results). A step
    is a task or a ``group``. The chain stops where a step fails: the steps after
    it end ``failed`` (ParentFailed), as any child of a failed parent."""

    def __init__(self, *steps: BaseTask[Any] | group) -> None:
        if not steps:
            raise FlowError("chain() needs at least one step")
        for step in steps:
            if not isinstance(step, group):
                _check_task(step)
        self.steps = steps

    async def dispatch(self, *, backend: Backend = None, connection: Any = None) -> FlowRun:
        return await _dispatch(list(self.steps), backend, connection)


def chord(header: group | Iterable[BaseTask[Any]], callback: BaseTask[Any]) -> chain:
    """The tasks of ``header`` in parallel, then ``callback`` with the list of their
    results, in order, as ``self.previous_result``."""
    return chain(header if isinstance(header, group) else group(*header), callback)


def _check_task(task: Any) -> None:
    if not isinstance(task, BaseTask):
        raise FlowError(f"a canvas step is a task instance or a group, not {task!r}")


async def _dispatch(
    steps: Sequence[BaseTask[Any] | group], backend: Backend, connection: Any
) -> FlowRun:
    dispatcher = await dispatcher_for(backend)
    driver = dispatcher.driver
    flow_id = new_job_id()
    now = time.time()
    built: list[JobRecord] = []
    previous: list[str] = []
    after_group = False
    for step in steps:
        tasks = step.tasks if isinstance(step, group) else (step,)
        ids = []
        for task in tasks:
            record = dispatcher.build_job(task, now)
            record.depends_on = tuple(previous)
            _finish(record, None, flow_id, {}, dispatcher, shape="list" if after_group else "")
            built.append(record)
            ids.append(record.id)
        previous, after_group = ids, isinstance(step, group)
    handles = await _add(driver, built, None, connection)
    last = tuple(handles[-len(previous) :])
    return FlowRun(flow_id, tuple(handles), last, single=not after_group)

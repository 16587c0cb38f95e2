"""The lifecycle model test: a broker and the in-memory reference, side by side.

A Hypothesis state machine drives random operations (enqueue with delay, priority
and unique key; claim; complete, fail, retry, release; settles fenced by the wrong
worker or attempt; lapse a lease and recover; cancel, requeue, purge; pause and
resume; time passing) against the target's driver and a ``MemoryDriver`` on the same
clock, and after every step compares what each returned and everything a caller can
observe: which jobs a claim hands out and in what order, the attempts they carry,
which settles are accepted, what a recovery reports, each job's visible state and
attempts, and the counts of each queue. Every state change it sees on the target is
checked against ``asynctasq.lifecycle.TRANSITIONS``.

An operation is generated only where the target declares what it needs (Management
for cancel/requeue/purge, Pausing, UniqueKeys, Inspection for the state
comparison); a target that takes no clock has its leases lapse in real, short time
and no jobs coming due. :class:`ModelReport` lists what was left out and why, and the
divergences declared for the broker (``divergences.py``).
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
import time
from collections import Counter
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar, cast

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    precondition,
    rule,
    run_state_machine_as_test,
)

from asynctasq.clock import SYSTEM_CLOCK, Clock, ManualClock
from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import (
    Deduplication,
    Dependencies,
    Inspection,
    Management,
    Pausing,
    Removal,
    UniqueKeys,
)
from asynctasq.drivers.dependencies import UnknownParent
from asynctasq.drivers.memory import MemoryDriver
from asynctasq.jobs import (
    Completed,
    Failed,
    Job,
    JobState,
    Outcome,
    QueueStats,
    Recovery,
    Released,
    Retried,
)
from asynctasq.lifecycle import JobEvent, targets
from asynctasq.testing.conformance.divergences import Divergence, restrictions_for
from asynctasq.testing.conformance.target import Target

__all__ = ["ModelReport", "run_lifecycle_model"]

T = TypeVar("T")
S = JobState

QUEUES = ("q1", "q2")
WORKERS = ("w1", "w2")
#: lease lengths: a short one lapses when the model lets time pass, a long one never
SHORT_LEASE_MANUAL, SHORT_LEASE_REAL, LONG_LEASE = 10.0, 0.05, 3600.0
#: on the real clock, how long past a lease the model waits to see it lapsed on both
REAL_MARGIN = 0.02
#: a claim under "claims-trickle" takes every due job, and waits at most this for them
CLAIM_ALL, TRICKLE_WAIT = 100, 3.0
#: emptying a shared namespace's queues: done when a claim waiting this long gets none
DRAIN_WAIT = 0.05
PAYLOAD = b"\x81\xa4args\x80"
#: another payload: a debounced duplicate's replaces its holder's (claims show it)
PAYLOAD_B = b"\x81\xa4args\x81\xa1n\x01"
#: the window of throttle and debounce jobs (seconds of the model's clock)
DEDUP_WINDOW = 20.0
#: what a purge may target (active jobs cannot be purged)
PURGEABLE = (S.PENDING, S.SCHEDULED, S.COMPLETED, S.FAILED, S.CANCELLED)


class Divergent(AssertionError):
    """The target did not do what the reference did."""


@dataclass
class Plan:
    """What the model generates for one target: from its capabilities, whether it
    takes a clock, and the divergences declared for it."""

    broker: str
    inspection: bool
    management: bool
    removal: bool
    pausing: bool
    unique: bool
    dedup: bool  # deduplication modes (Deduplication) on keyed jobs
    manual_clock: bool
    delays: bool  # future run_at that come due as the model moves time
    trickle: bool
    one_queue_set: bool
    unique_per_queue: bool
    atomic_per_queue: bool
    keep_completed: bool
    dependencies: bool  # jobs with depends_on: blocked, unblocked, ended by a parent
    left_out: dict[str, str]
    divergences: tuple[Divergence, ...]


def plan_for(target: Target, extra: tuple[Divergence, ...] = ()) -> Plan:
    driver = target.make_driver()
    declared = restrictions_for(target.name, extra)
    name = target.name

    def has(capability: type[Any]) -> bool:
        return isinstance(driver, capability)

    try:
        target.make_driver(keep_completed=True)
        keeps = True
    except Exception:  # a broker with no store of completed jobs refuses the option
        keeps = False
    left_out: dict[str, str] = {}
    for ops, capability in (
        ("cancel, requeue, purge", Management),
        ("pause, resume", Pausing),
        ("remove", Removal),
        ("unique keys", UniqueKeys),
        ("deduplication modes", Deduplication),
        ("depends_on (block, unblock, cascade)", Dependencies),
        ("comparing job states and queue counts", Inspection),
    ):
        if not has(capability):
            left_out[ops] = f"the {name} driver does not declare {capability.__name__}"
    if not keeps:
        left_out["keeping completed jobs"] = f"the {name} driver refuses keep_completed=True"
    delays = target.accepts_clock and "real-time-delays" not in declared
    if not target.accepts_clock:
        left_out["jobs coming due (delays run far in the future)"] = (
            f"the {name} target takes no clock: leases lapse in real, short time"
        )
    elif not delays:
        left_out["jobs coming due (delays run far in the future)"] = declared[
            "real-time-delays"
        ].reason
    if "one-queue-set" in declared:
        left_out["claims naming one queue, or the other order"] = declared["one-queue-set"].reason
    if "claims-trickle" in declared:
        left_out["claim order and claim limits"] = declared["claims-trickle"].reason
    return Plan(
        broker=name,
        inspection=has(Inspection),
        management=has(Management),
        removal=has(Removal),
        pausing=has(Pausing),
        unique=has(UniqueKeys),
        dedup=has(Deduplication) and target.accepts_clock,
        manual_clock=target.accepts_clock,
        delays=delays,
        trickle="claims-trickle" in declared,
        one_queue_set="one-queue-set" in declared,
        unique_per_queue="unique-keys-per-queue" in declared,
        atomic_per_queue="atomic-per-queue" in declared,
        keep_completed=keeps,
        dependencies=has(Dependencies),
        left_out=left_out,
        divergences=tuple(declared.values()),
    )


@dataclass
class Held:
    """A lease the model knows of: the fence a settle must carry."""

    job_id: str
    queue: str
    worker: str
    attempt: int
    lease_until: float  # the later of the two drivers' (real clock: they differ a little)
    short: bool


@dataclass
class ModelReport:
    broker: str
    examples: int
    steps: int
    seconds: float
    operations: dict[str, int] = field(default_factory=dict)
    left_out: dict[str, str] = field(default_factory=dict)
    divergences: tuple[Divergence, ...] = ()

    def __str__(self) -> str:
        lines = [
            f"lifecycle model test on {self.broker}: {self.examples} examples of up to "
            f"{self.steps} steps in {self.seconds:.1f} s",
            "  operations run: "
            + ", ".join(f"{op} {n}" for op, n in sorted(self.operations.items())),
        ]
        lines += [f"  left out: {what}: {why}" for what, why in self.left_out.items()]
        lines += [
            f"  declared divergence ({'bug' if d.bug else 'limit'}): {d.restriction}: {d.reason}"
            for d in self.divergences
        ]
        return "\n".join(lines)


Snapshot = dict[str, tuple[JobState, int]]


class LifecycleMachine(RuleBasedStateMachine):
    """Subclassed per run by :func:`run_lifecycle_model`, which sets these."""

    factory: ClassVar[Callable[[], Target]]
    #: the target every example shares, set up once (Target.fresh_per_example False)
    shared: ClassVar[Target | None]
    plan: ClassVar[Plan]
    counts: ClassVar[Counter[str]]

    def __init__(self) -> None:
        super().__init__()
        self.runner = asyncio.Runner()
        self.target: Target | None = None
        self.serial = itertools.count()
        self.tag = secrets.token_hex(4)
        # a fresh namespace per example, or a shared one where the queues stay the same
        # (a broker such as RabbitMQ declares each queue name it sees, at a cost)
        self.queues = QUEUES if self.shared else tuple(f"{q}-{self.tag}" for q in QUEUES)
        self.clock: Clock = SYSTEM_CLOCK
        self.jobs: dict[str, str] = {}  # every job stored: id -> queue
        self.held: dict[str, Held] = {}
        self.lost: list[Held] = []  # fences that no longer hold
        self.seen: Snapshot = {}  # the target's jobs as last observed
        self.subject: Driver
        self.reference: MemoryDriver

    # -- plumbing -------------------------------------------------------------------------

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coro)

    def teardown(self) -> None:
        try:
            if self.target is not None:
                self.run(self.target.teardown())
            elif self.shared is not None and hasattr(self, "subject"):
                self.run(self._leave_shared())
        finally:
            self.runner.close()

    async def _leave_shared(self) -> None:
        """Complete what this example holds and what its queues still hold, so the next
        example starts from empty queues; the namespace stays for it. The example's
        driver closes first: what it held unknown to the model (the claim a divergence
        stopped) goes back to the broker, and a driver of its own drains it."""
        driver = self.subject
        held = [Completed(h.job_id, h.worker, h.attempt, queue=h.queue) for h in self.held.values()]
        try:
            if held:
                await driver.settle(held)
        finally:
            await driver.disconnect()
        assert self.shared is not None
        options = {"clock": self.clock} if self.plan.manual_clock else {}
        drain = self.shared.make_driver(**options)
        await drain.connect()
        try:
            quiet = 0
            while quiet < 2:  # deliveries on their way arrive within the pause
                jobs = await drain.reserve(
                    self.queues, limit=CLAIM_ALL, worker_id="drain", lease_seconds=LONG_LEASE
                )
                if jobs:
                    done = [Completed(j.id, "drain", j.attempts, queue=j.queue) for j in jobs]
                    await drain.settle(done)
                    quiet = 0
                else:
                    quiet += 1
                    await asyncio.sleep(DRAIN_WAIT)  # real time: the clock may be manual
        finally:
            await drain.disconnect()

    @staticmethod
    def _no_target() -> Target:
        raise AssertionError("the model has no target")

    def now(self) -> float:
        return self.clock.time()

    def count(self, op: str) -> None:
        self.counts[op] += 1

    def same(self, op: str, expected: object, got: object) -> None:
        if expected != got:
            raise Divergent(
                f"{self.plan.broker} diverges from the reference on {op}:\n"
                f"  reference: {expected!r}\n  {self.plan.broker}: {got!r}"
            )

    # -- start ----------------------------------------------------------------------------

    @initialize(keep=st.booleans(), data=st.data())
    def start(self, keep: bool, data: st.DataObject) -> None:
        keep = keep and self.plan.keep_completed
        options: dict[str, Any] = {"keep_completed": keep}
        if self.plan.manual_clock:
            self.clock = ManualClock(start=float(int(time.time())))
            options["clock"] = self.clock
        if self.shared is None:
            self.target = type(self).factory()
            self.run(self.target.setup())
        self.subject = self.run(
            (self.target or self.shared or self._no_target()).new_driver(**options)
        )
        if hasattr(self.subject, "release_bound"):  # Redis: see settle()
            self.subject.release_bound = 1
        self.reference = MemoryDriver(keep_completed=keep, clock=self.clock)
        self.run(self.reference.connect())
        self.enqueue(data)  # a few jobs to begin with: the short runs reach their settles

    # -- operations -----------------------------------------------------------------------

    @rule(data=st.data())
    def enqueue(self, data: st.DataObject) -> None:
        plan = self.plan
        delays = [-5.0, 0.0] + ([3.0, 30.0] if plan.delays else [])
        if not plan.delays and "real-time-delays" not in {d.restriction for d in plan.divergences}:
            delays.append(LONG_LEASE)  # scheduled, never due: cancel and purge see it
        keys = [None, None, "k1", "k2"] if plan.unique else [None]
        modes = [None, None, "until_started", "throttle", "debounce"] if plan.dedup else [None]
        batch: list[Job] = []
        for _ in range(data.draw(st.integers(1, 4), label="jobs")):
            queue = data.draw(st.sampled_from(self.queues), label="queue")
            key = data.draw(st.sampled_from(keys), label="unique_key")
            if key and plan.unique_per_queue:
                key = f"{queue}:{key}"
            mode = data.draw(st.sampled_from(modes), label="unique_mode") if key else None
            if mode is not None:
                assert key is not None
                key = f"{mode}:{key}"  # a mode's keys are a set apart (asynctasq/dedup.py)
            parents: list[str] = []
            policy = "fail"
            if plan.dependencies and not key and data.draw(st.booleans(), label="parents"):
                # (Redis: a job's parents share its queue) known jobs, and the batch's own
                known = sorted(i for i, q in self.jobs.items() if q == queue)
                known += [j.id for j in batch if j.queue == queue and not j.unique_key]
                if known:
                    parents = data.draw(
                        st.lists(st.sampled_from(known), min_size=1, max_size=3, unique=True),
                        label="depends_on",
                    )
                    policy = data.draw(st.sampled_from(["fail", "cancel", "run"]), label="policy")
            now = self.now()
            batch.append(
                Job(
                    task="conformance.noop",
                    payload=data.draw(st.sampled_from([PAYLOAD, PAYLOAD_B]), label="payload")
                    if mode == "debounce"
                    else PAYLOAD,
                    queue=queue,
                    id=f"{self.tag}-0000-7000-8000-{next(self.serial):012x}",
                    priority=data.draw(st.integers(-2, 2), label="priority"),
                    max_attempts=data.draw(st.integers(1, 3), label="max_attempts"),
                    run_at=now + data.draw(st.sampled_from(delays), label="delay"),
                    created_at=now,
                    unique_key=key,
                    unique_mode=mode,
                    unique_for=None if mode in (None, "until_started") else DEDUP_WINDOW,
                    depends_on=tuple(parents),
                    on_parent_failure=policy,
                )
            )
        if any(job.depends_on for job in batch) and any(job.unique_key for job in batch):
            batch = [job for job in batch if not job.unique_key]  # (Redis: none in a DAG)
        if plan.atomic_per_queue and any(job.depends_on for job in batch):
            first = next(job.queue for job in batch if job.depends_on)
            batch = [job for job in batch if job.queue == first]
        while True:  # without a job left out, its children go too
            ids = {job.id for job in batch}
            kept = [j for j in batch if all(p in ids or p in self.jobs for p in j.depends_on)]
            if len(kept) == len(batch):
                break
            batch = kept
        expected_error = got_error = None
        expected: list[str] = []
        got: list[str] = []
        try:
            expected = self.run(self.reference.enqueue([job.copy() for job in batch]))
        except UnknownParent as exc:  # a parent purged or removed meanwhile
            expected_error = type(exc).__name__
        try:
            got = self.run(self.subject.enqueue([job.copy() for job in batch]))
        except UnknownParent as exc:
            got_error = type(exc).__name__
        self.same("enqueue: refused (unknown parent)", expected_error, got_error)
        self.same("enqueue (the ids returned)", expected, got)
        for job, job_id in zip(batch, expected or [""] * len(batch), strict=True):
            if job_id == job.id:  # ("": refused, nothing stored)
                self.jobs[job.id] = job.queue
        self.count("enqueue" if not any(j.depends_on for j in batch) else "enqueue with parents")
        # a debounced duplicate moves its waiting holder on (lifecycle: debounce)
        self.observe({JobEvent.ENQUEUE, JobEvent.DEBOUNCE})

    @rule(
        which=st.sampled_from([(0,), (1,), (0, 1), (1, 0)]),
        limit=st.integers(1, 3),
        worker=st.sampled_from(WORKERS),
        short=st.booleans(),
    )
    def claim(self, which: tuple[int, ...], limit: int, worker: str, short: bool) -> None:
        if self.plan.one_queue_set:
            which = (0, 1)
        queues = [self.queues[i] for i in which]
        if self.plan.trickle:
            limit = CLAIM_ALL
        lease = self.short_lease if short else LONG_LEASE
        expected = self.run(self._reserve(self.reference, queues, limit, worker, lease))
        got = self.run(self._reserve(self.subject, queues, limit, worker, lease))
        if self.plan.trickle:
            got += self.run(self._trickle(queues, len(expected) - len(got), worker, lease))
            expected.sort(key=_by_id)
            got.sort(key=_by_id)
        self.same(
            f"claim {list(queues)} limit {limit} by {worker}", _claimed(expected), _claimed(got)
        )
        for mine, theirs in zip(expected, got, strict=True):
            self.same(
                "a claimed job's worker and state",
                (worker, S.ACTIVE),
                (theirs.worker_id, theirs.state),
            )
            until = max(mine.lease_until or 0.0, theirs.lease_until or 0.0)
            self.held[mine.id] = Held(mine.id, mine.queue, worker, mine.attempts, until, short)
        self.count("claim")
        self.observe({JobEvent.CLAIM})

    async def _reserve(
        self, driver: Driver, queues: Sequence[str], limit: int, worker: str, lease: float
    ) -> list[Job]:
        return await driver.reserve(queues, limit=limit, worker_id=worker, lease_seconds=lease)

    async def _trickle(
        self, queues: Sequence[str], missing: int, worker: str, lease: float
    ) -> list[Job]:
        more: list[Job] = []
        deadline = time.monotonic() + TRICKLE_WAIT
        while len(more) < missing and time.monotonic() < deadline:
            await asyncio.sleep(0.005)
            more += await self._reserve(self.subject, queues, missing - len(more), worker, lease)
        return more

    @precondition(lambda self: bool(self.held) or bool(self.lost))
    @rule(data=st.data())
    def settle(self, data: st.DataObject) -> None:
        fences = sorted(self.held.values(), key=lambda h: h.job_id)
        chosen: list[Held] = []
        if fences:
            chosen = data.draw(
                st.lists(
                    st.sampled_from(fences), min_size=1, max_size=3, unique_by=lambda h: h.job_id
                ),
                label="jobs",
            )
        outcomes = [self._outcome(data, held, stale=False) for held in chosen]
        if data.draw(st.booleans(), label="with a stale fence") and self.lost:
            taken = {h.job_id for h in chosen}
            stale = [h for h in self.lost if h.job_id not in taken]
            if stale:
                outcomes.append(self._outcome(data, data.draw(st.sampled_from(stale)), stale=True))
        # (settle_bounded: what the worker calls; a broker may leave some completions
        # for another call, which the reference then does not apply either)
        got, left = self.run(self.subject.settle_bounded(outcomes))
        if outcomes and len(left) >= len(outcomes):
            raise Divergent(f"{self.plan.broker}: a bounded settle applied none of {outcomes}")
        applied = [o for i, o in enumerate(outcomes) if i not in set(left)]
        expected = self.run(self.reference.settle(applied))
        got = [ok for i, ok in enumerate(got) if i not in set(left)]
        self.same(f"settle {applied} (left for later: {left})", expected, got)
        if left:
            self.count("settle: some left for later")
        self.count("settle")
        self.observe(
            {JobEvent.COMPLETE, JobEvent.RETRY, JobEvent.FAIL, JobEvent.RELEASE, *_DEPENDANTS}
        )

    def _outcome(self, data: st.DataObject, held: Held, *, stale: bool) -> Outcome:
        worker, attempt = held.worker, held.attempt
        fence = (
            "as held"
            if stale
            else data.draw(
                st.sampled_from(["as held"] * 3 + ["other worker", "next attempt", "last attempt"]),
                label="fence",
            )
        )
        if fence == "other worker":
            worker = WORKERS[1 - WORKERS.index(worker)]
        elif fence != "as held":
            attempt += 1 if fence == "next attempt" else -1
        kinds = ["complete", "fail", "retry now", "retry past", "release"]
        if self.plan.delays or not self.plan.manual_clock:
            kinds.append("retry later")
        kind = data.draw(st.sampled_from(kinds), label="outcome")
        head = (held.job_id, worker, max(attempt, 0))
        self.count(f"settle:{kind}" + ("" if fence == "as held" and not stale else " (fenced)"))
        match kind:
            case "complete":
                return Completed(*head, queue=held.queue, result=b"done")
            case "fail":
                return Failed(*head, queue=held.queue, error="Boom: failed")
            case "release":
                return Released(*head, queue=held.queue)
        later = {"retry now": 0.0, "retry past": -5.0}.get(kind)
        if later is None:
            later = 3.0 if self.plan.delays else LONG_LEASE
        return Retried(*head, queue=held.queue, run_at=self.now() + later, error="Boom: again")

    @rule(data=st.data())
    def time_passes(self, data: st.DataObject) -> None:
        """Let the short leases lapse and recover, recover alone, or (on a manual
        clock with delays) move time so scheduled jobs come due."""
        choices = ["lapse", "recover"] + (["advance"] * 2 if self.plan.delays else [])
        match data.draw(st.sampled_from(choices), label="time"):
            case "lapse":
                self._lapse()
            case "recover":
                self._recover("recover")
            case _:
                seconds = data.draw(st.sampled_from([0.5, 4.0, 40.0]), label="seconds")
                cast(ManualClock, self.clock).advance(seconds)
                self.count("advance")
                self.observe(set())

    def _lapse(self) -> None:
        if isinstance(self.clock, ManualClock):
            self.clock.advance(SHORT_LEASE_MANUAL + 1)
        else:
            self._outlive([h.lease_until for h in self.held.values() if h.short])
        self._recover("lapse")

    def _outlive(self, leases: list[float]) -> None:
        """On the real clock: wait until these leases lapsed on both drivers (each set
        its lease_until from its own reading of the time, a moment apart)."""
        if leases:
            self.run(asyncio.sleep(max(max(leases) - time.time(), 0.0) + REAL_MARGIN))

    def _recover(self, op: str) -> None:
        if not isinstance(self.clock, ManualClock):
            # a short lease about to lapse could lapse on one driver and not the other
            now = time.time()
            self._outlive(
                [
                    h.lease_until
                    for h in self.held.values()
                    if h.short and h.lease_until + REAL_MARGIN > now
                ]
            )
        expected = self.run(self.reference.recover_expired())
        got = self.run(self.subject.recover_expired())
        self.same(f"{op}: recover_expired()", _recovery(expected), _recovery(got))
        self.count(op)
        self.observe({JobEvent.LAPSE, *_DEPENDANTS})

    @precondition(lambda self: self.plan.management or self.plan.pausing or self.plan.removal)
    @rule(data=st.data())
    def operator(self, data: st.DataObject) -> None:
        plan = self.plan
        ops = (["cancel", "requeue", "purge"] if plan.management else []) + (
            ["pause", "resume"] if plan.pausing else []
        )
        ops += ["remove"] if plan.removal else []
        op = data.draw(st.sampled_from(ops), label="operator")
        if op == "purge":
            self._purge(
                data.draw(st.sampled_from(self.queues), label="queue"),
                data.draw(st.sampled_from(PURGEABLE), label="state"),
                aged=data.draw(st.booleans(), label="older_than"),
            )
        elif op in ("pause", "resume"):
            self._pausing(data.draw(st.sampled_from(self.queues), label="queue"), op)
        else:
            unknown = "00000000-0000-7000-8000-000000000000"
            job_id = data.draw(st.sampled_from([*sorted(self.jobs), unknown]), label="job")
            expected = self.run(getattr(self.reference, op)(job_id))
            got = self.run(getattr(self.subject, op)(job_id))
            self.same(f"{op}({job_id})", expected, got)
            self.count(op)
            self.observe({_OPERATOR_EVENTS[op], *_DEPENDANTS})

    def _purge(self, queue: str, state: JobState, *, aged: bool) -> None:
        older_than = self.now() + 1 if aged else None
        expected = self.run(self.reference.purge(queue, state, older_than=older_than))
        subject = cast(Management, self.subject)
        got = self.run(subject.purge(queue, state, older_than=older_than))
        self.same(f"purge({queue}, {state.value}, older_than={older_than})", expected, got)
        self.count("purge")
        self.observe({JobEvent.PURGE, *_DEPENDANTS})

    def _pausing(self, queue: str, op: str) -> None:
        subject = cast(Pausing, self.subject)
        if op == "pause":
            self.run(self.reference.pause(queue))
            self.run(subject.pause(queue))
        else:
            self.run(self.reference.resume(queue))
            self.run(subject.resume(queue))
        self.count(op)
        self.observe(set())

    # -- observing ------------------------------------------------------------------------

    @property
    def short_lease(self) -> float:
        return SHORT_LEASE_MANUAL if self.plan.manual_clock else SHORT_LEASE_REAL

    def observe(self, events: set[JobEvent]) -> None:
        """Compare what callers can see, check each change the target made against the
        lifecycle table, and follow which fences still hold (the reference says)."""
        self._follow_fences()
        if not self.plan.inspection:
            return
        expected = self.run(_snapshot(self.reference, self.queues))
        got = self.run(_snapshot(cast(Inspection, self.subject), self.queues))
        for queue in self.queues:
            self.same(f"stats({queue})", expected[1][queue], got[1][queue])
            self.same(
                f"the waiting jobs of {queue}, in claim order", expected[2][queue], got[2][queue]
            )
        self.same("each job's visible state and attempts", expected[0], got[0])
        self._check_transitions(got[0], events)
        self.seen = got[0]

    def _follow_fences(self) -> None:
        jobs = self.reference.broker.jobs
        for job_id, held in list(self.held.items()):
            job = jobs.get(job_id)
            if (
                job is None
                or job.state is not S.ACTIVE
                or job.worker_id != held.worker
                or job.attempts != held.attempt
            ):
                del self.held[job_id]
                self.lost.append(held)

    def _check_transitions(self, now: Snapshot, events: set[JobEvent]) -> None:
        # time passes on a real clock at every step; on a manual one, steps move it
        due_possible = not self.plan.manual_clock or not events or JobEvent.LAPSE in events
        for job_id in self.seen.keys() | now.keys():
            before = self.seen[job_id][0] if job_id in self.seen else None
            after = now[job_id][0] if job_id in now else None
            if before == after:
                continue
            sources = {before}
            if due_possible and before is S.SCHEDULED:
                sources.add(S.PENDING)
                if after is S.PENDING:
                    continue  # it came due
            if not any(after in targets(event, source) for event in events for source in sources):
                raise Divergent(
                    f"{self.plan.broker}: job {job_id} went {before} -> {after} on "
                    f"{sorted(e.value for e in events) or 'time passing'}, which the "
                    "lifecycle table (asynctasq/lifecycle.py) does not allow"
                )


#: what the end of a job does to its blocked dependants, in the same step
_DEPENDANTS = (JobEvent.UNBLOCK, JobEvent.PARENT_FAILED)

_OPERATOR_EVENTS = {
    "cancel": JobEvent.CANCEL,
    "requeue": JobEvent.REQUEUE,
    "remove": JobEvent.PURGE,  # the purge of one job
}


async def _snapshot(
    driver: Inspection, queues: Sequence[str]
) -> tuple[Snapshot, dict[str, QueueStats], dict[str, list[str]]]:
    jobs: Snapshot = {}
    stats: dict[str, QueueStats] = {}
    waiting: dict[str, list[str]] = {}
    for queue in queues:
        stats[queue] = await driver.stats(queue)
        listed = await driver.list_jobs(queue, limit=1000)
        jobs.update((job.id, (job.state, job.attempts)) for job in listed)
        waiting[queue] = [job.id for job in listed if job.state is S.PENDING]
    return jobs, stats, waiting


def _by_id(job: Job) -> str:
    return job.id


def _claimed(jobs: list[Job]) -> list[tuple[str, int, str, int, int, bytes]]:
    return [(j.id, j.attempts, j.queue, j.priority, j.max_attempts, j.payload) for j in jobs]


def _recovery(recovery: Recovery) -> tuple[int, list[tuple[str, int, JobState, str | None]]]:
    dead = sorted((j.id, j.attempts, j.state, j.error) for j in recovery.dead)
    return recovery.requeued, dead


def run_lifecycle_model(
    make_target: Callable[[], Target],
    *,
    max_examples: int = 200,
    steps: int = 20,
    divergences: tuple[Divergence, ...] = (),
) -> ModelReport:
    """Run the lifecycle model test on fresh targets from ``make_target`` (one per
    example); raises on the first divergence (Hypothesis shrinks it to the shortest
    sequence of operations and prints it). ``divergences`` adds declarations to
    ``KNOWN_DIVERGENCES`` (a third-party broker's own)."""
    probe = make_target()
    plan = plan_for(probe, divergences)
    counts: Counter[str] = Counter()
    shared = None if probe.fresh_per_example else probe
    machine = type(
        f"LifecycleModel_{plan.broker}",
        (LifecycleMachine,),
        {"factory": staticmethod(make_target), "plan": plan, "counts": counts, "shared": shared},
    )
    started = time.monotonic()
    if shared is not None:
        asyncio.run(shared.setup())
    try:
        _run(machine, max_examples, steps)
    finally:
        if shared is not None:
            asyncio.run(shared.teardown())
    return ModelReport(
        broker=plan.broker,
        examples=max_examples,
        steps=steps,
        seconds=time.monotonic() - started,
        operations=dict(counts),
        left_out=plan.left_out,
        divergences=plan.divergences,
    )


def _run(machine: type[LifecycleMachine], max_examples: int, steps: int) -> None:
    run_state_machine_as_test(
        machine,
        settings=settings(
            max_examples=max_examples,
            stateful_step_count=steps,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )

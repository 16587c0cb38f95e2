"""Wake-up and claim in one round trip (single Redis, not Cluster).

An idle worker sends, on one connection and in one write, ``BLPOP <wake lists>``
followed by the claim (reserve.lua, by FCALL or EVALSHA: scripts.py). Redis runs the
claim the moment BLPOP returns, so a job enqueued for an idle worker reaches it after
one network round trip, not two (wake-up, then claim). The operation has a lean
connection of its own (lean.py; the pool's where none can serve): the replies resolve
in its protocol callback, and the outcome wakes the waiting caller directly, so the
claimed job reaches the worker in as few event-loop turns as it can. Redis times a
BLPOP out only to its ``hz`` tick (up to 100 ms late), too coarse for a delayed job's
``run_at``, so callers wait on the operation with a deadline of their own; an
operation still blocked when its caller gives up is kept, and the next reserve() with
the same queues, worker and lease picks it up. Jobs an operation claims while nobody
waits for it are released at once (back to pending, the attempt not counted), so they
are never stranded; a wake-up it takes then is pushed back, so it still reaches a
waiting worker.

The claim is packed before the BLPOP blocks, so it carries the client's time of
sending (scripts only ever use the client's clock). The leases it grants are short
by the time the BLPOP blocked: a BLPOP blocks at most a quarter of the lease (and
at most ``BLOCK_SECONDS``), so a lease is never short by more than that, well
before the worker's first renewal (a third of the lease) matters.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import ResponseError

from asynctasq.clock import Clock
from asynctasq.drivers.base import DriverNotConnected
from asynctasq.drivers.redis.claim import Claim, Claimer, decode_claim
from asynctasq.drivers.redis.lean import LeanConnection, lean_connection_for
from asynctasq.drivers.redis.scripts import Arg, missing, reply_or_error
from asynctasq.jobs import Job, Outcome, Released

__all__ = ["BlockingClaim"]

log = logging.getLogger("asynctasq.redis")

#: server-side timeout of one BLPOP, seconds (connection.SOCKET_TIMEOUT is above it)
BLOCK_SECONDS = 1.0
#: the part of a lease a BLPOP may block for (the claim behind it dates the lease
#: from when it was sent)
BLOCK_LEASE_SHARE = 0.25

Settle = Callable[[list[Outcome]], Awaitable[object]]


def _key(queues: Sequence[str], worker_id: str, lease_seconds: float) -> tuple[Any, ...]:
    return (tuple(queues), worker_id, float(lease_seconds))


@dataclass(eq=False)
class _Operation:
    """One BLPOP-and-claim in flight; a later reserve() with the same ``key`` (queues,
    worker, lease) picks it up."""

    key: tuple[Any, ...]
    limit: int
    task: asyncio.Task[None] | None = None
    client_id: int | None = None
    waiters: int = 0
    taken: bool = False  # its outcome went to one caller, or was released
    token: tuple[bytes, bytes] | None = None  # what BLPOP returned: (list, token)
    outcome: asyncio.Future[Claim | None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    #: its callers' wake-ups, set right where the outcome is (a done callback of the
    #: outcome would take one more event-loop turn to reach them)
    wakers: list[asyncio.Future[None]] = field(default_factory=list)

    def wake(self) -> None:
        for woken in self.wakers:
            _set(woken)


def _set(woken: asyncio.Future[None], *_: object) -> None:
    if not woken.done():
        woken.set_result(None)


class BlockingClaim:
    def __init__(self, client: Redis, claimer: Claimer, settle: Settle, clock: Clock) -> None:
        self.client = client
        self.claimer = claimer
        self.settle = settle
        self.clock = clock
        #: its own connection (a blocked BLPOP holds it), where a lean one can serve
        self.lean = lean_connection_for(client)
        self._op: _Operation | None = None
        self._background: set[asyncio.Task[object]] = set()

    def usable(self, queues: Sequence[str], worker_id: str, lease_seconds: float) -> bool:
        """False while an operation for other queues (another caller) is pending."""
        return self._op is None or self._op.key == _key(queues, worker_id, lease_seconds)

    async def wait(
        self,
        queues: Sequence[str],
        *,
        limit: int,
        worker_id: str,
        lease_seconds: float,
        timeout: float,
        armed: asyncio.Event,
    ) -> Claim | None:
        """The claim (at most ``limit`` jobs), once a wake-up arrives or the BLPOP
        times out; None after ``timeout`` or once ``armed`` is set, with nothing yet
        (the caller claims itself), or when another caller's operation holds the
        way (check usable() first). The caller settles the claim's ``corrupt``
        outcomes."""
        if armed.is_set():
            return None
        key = _key(queues, worker_id, lease_seconds)
        op = self._op
        if op is None:
            op = self._op = _Operation(key, limit)
            op.task = asyncio.create_task(self._run(op), name="asynctasq-redis-wake")
        elif op.key != key:
            return None
        op.waiters += 1
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[None] = loop.create_future()  # by the outcome, armed or timer
        op.wakers.append(woken)
        notified: asyncio.Future[object] = asyncio.ensure_future(armed.wait())
        notified.add_done_callback(functools.partial(_set, woken))
        timer = loop.call_later(timeout, _set, woken)
        try:
            await woken  # (cancelled: only this caller's wake-up is, never the outcome)
            if not op.outcome.done():
                return None
            if op.taken:  # another caller got it (or it was released)
                return Claim()
            op.taken = True
            got = op.outcome.result()
        finally:
            timer.cancel()
            notified.cancel()
            op.wakers.remove(woken)
            op.waiters -= 1
            if not op.waiters and op.outcome.done() and not op.taken:
                self._orphaned(op)  # its last caller left (cancelled)
        if got is None:
            return None  # woken, but the script was not cached: the caller's claim loads it
        if len(got.jobs) > limit:  # claimed for a larger caller: hand the rest back
            self._spawn(self._release(got.jobs[limit:]))
            got.jobs = got.jobs[:limit]
        return got

    async def _run(self, op: _Operation) -> None:
        try:
            got = await self._blpop_then_claim(op)
        except BaseException as exc:
            self._finish(op)
            # cancelled (disconnect): its waiter must not take that for its own cancel
            error = exc if isinstance(exc, Exception) else DriverNotConnected("redis")
            op.outcome.set_exception(error)
            op.wake()
            if not op.waiters:
                self._orphaned(op)
            if not isinstance(exc, Exception):
                raise
            return
        self._finish(op)
        op.outcome.set_result(got)
        op.wake()
        if not op.waiters:
            self._orphaned(op)

    def _orphaned(self, op: _Operation) -> None:
        """Nobody waits for what the operation claimed: release it at once; and a
        wake-up it took is handed back, for whoever waits next (here or in another
        worker), so that a job scheduled meanwhile is still timed."""
        op.taken = True
        if op.outcome.exception() is not None:
            return  # (marked retrieved) the next caller meets the error itself
        got = op.outcome.result()
        if got is not None and got.corrupt:
            self._spawn(self._release([], got.corrupt))
        if got is not None and got.jobs:
            self._spawn(self._release(got.jobs))  # released jobs wake workers themselves
        elif op.token is not None:
            self._spawn(self._give_back(op.token))

    def _finish(self, op: _Operation) -> None:
        if self._op is op:
            self._op = None

    async def _blpop_then_claim(self, op: _Operation) -> Claim | None:
        queues, worker_id, lease_seconds = op.key
        (group,) = self.claimer.groups(queues)
        wake_keys = [self.claimer.keys.wake(q) for q in group]
        now = repr(self.clock.time())
        caps = dict.fromkeys(group, op.limit)
        call = self.claimer.reserve_call(group, caps, op.limit, worker_id, lease_seconds, now)
        block = max(min(BLOCK_SECONDS, lease_seconds * BLOCK_LEASE_SHARE), 0.01)
        command = self.claimer.scripts.command(call)
        if self.lean is not None:
            reply = await self._send_lean(self.lean, op, wake_keys, block, command)
        else:
            reply = await self._send_pooled(op, wake_keys, block, command)
        if missing(reply):
            return None  # woken; the caller's own claim loads the script
        if isinstance(reply, Exception):
            raise reply
        return decode_claim(group, reply, worker_id)

    async def _send_lean(
        self,
        lean: LeanConnection,
        op: _Operation,
        wake_keys: list[str],
        block: float,
        command: tuple[Arg, ...],
    ) -> Any:
        """On a lean connection of its own: the replies resolve in the protocol's
        data_received, so the claim wakes this task once, with no pool nor timeouts."""
        replies: list[asyncio.Future[Any]] = []
        try:
            replies = await lean.pipeline(
                ("CLIENT", "ID"),
                ("BLPOP", *wake_keys, block),
                command,
            )
            client_id, token, claimed = replies
            op.client_id = await client_id
            op.token = await token  # (list, token), or None: timed out
            try:
                return await claimed
            except ResponseError as exc:
                return exc
        except BaseException:
            lean.abort()  # a claim behind a pending BLPOP must never run unseen
            for reply in replies:
                # the replies not awaited failed with the connection: read here, or
                # asyncio logs each as "Future exception was never retrieved"
                if reply.done() and not reply.cancelled():
                    reply.exception()
            raise

    async def _send_pooled(
        self, op: _Operation, wake_keys: list[str], block: float, command: tuple[Arg, ...]
    ) -> Any:
        """On a connection of redis-py's pool (TLS, or no hiredis)."""
        pool = self.client.connection_pool
        conn = await pool.get_connection()  # type: ignore[no-untyped-call]
        try:
            await conn.send_packed_command(
                conn.pack_commands(
                    [
                        ("CLIENT", "ID"),
                        ("BLPOP", *wake_keys, block),
                        command,
                    ]
                )
            )
            op.client_id = await conn.read_response()
            op.token = await conn.read_response()  # (list, token), or None: timed out
            return await reply_or_error(conn)
        except BaseException:
            await conn.disconnect()  # replies may be pending: never reuse it
            raise
        finally:
            await pool.release(conn)

    def _spawn(self, work: Coroutine[Any, Any, object]) -> None:
        task: asyncio.Task[object] = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _give_back(self, token: tuple[bytes, bytes]) -> object:
        with contextlib.suppress(Exception):  # lost: waiters time out and look anyway
            await self.client.lpush(token[0], token[1])
        return None

    async def _release(self, jobs: list[Job], outcomes: Sequence[Outcome] = ()) -> object:
        """Back to pending (``outcomes``, such as a corrupt job's, settled too)."""
        released = [Released(j.id, j.worker_id or "", j.attempts, queue=j.queue) for j in jobs]
        try:
            return await self.settle([*released, *outcomes])
        except Exception as exc:
            log.warning(
                "could not settle %d job(s) claimed after their caller left (%s); "
                "they return when their lease expires",
                len(released) + len(outcomes),
                exc,
            )
            return None

    async def quiesce(self) -> None:
        """Bring back what is claimed out of every caller's sight: an operation no
        caller waits for is unblocked (its claim then runs at once) and what it
        claimed is released; the releases are awaited. Until then such a job is
        neither pending nor in a worker's hands, so burst mode asks this before it
        judges the queues drained (a job its own settle had just made ready was
        stranded so, found by CI)."""
        op = self._op
        if op is not None and not op.waiters:
            await self._unblock(op, closing=False)
        if self._background:
            await asyncio.wait(list(self._background), timeout=5)

    async def close(self) -> None:
        """Unblock a pending operation, release what it claimed, and wait for the
        background work (releases, tokens handed back)."""
        if self._op is not None:
            await self._unblock(self._op, closing=True)
        if self._background:
            await asyncio.wait(list(self._background), timeout=5)
        if self.lean is not None:
            await self.lean.close()

    async def _unblock(self, op: _Operation, *, closing: bool) -> None:
        """End the operation now: CLIENT UNBLOCK times its BLPOP out (its claim runs
        behind it all the same), and the operation settles as it would have. Closing,
        nothing stops the wait; otherwise the caller's own cancellation goes through
        (the operation is left to end, its jobs released: never cut off mid-claim)."""
        if op.task is None:
            return
        if op.client_id is not None:
            with contextlib.suppress(Exception):
                await self.client.client_unblock(op.client_id)
        try:
            await asyncio.wait_for(asyncio.shield(op.task), BLOCK_SECONDS + 1)
        except BaseException:
            task = asyncio.current_task()
            if not closing and task is not None and task.cancelling():
                raise
        if closing and not op.task.done():
            op.task.cancel()

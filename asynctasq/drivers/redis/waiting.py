"""How an idle ``reserve()`` waits on Redis: the hooks of the base template.

Every script that makes a job ready pushes a token to its queue's wake list
(keys.py), so an idle worker blocks in ``BLPOP`` on the wake lists of its queues
instead of polling, and wakes within a round trip of an enqueue (this process's
own included). On a single Redis the claim script travels right behind that BLPOP
(blocking.py): ``claim_on_wakeup`` returns the jobs Redis claimed the moment the
token arrived, one round trip in all. On Cluster, or while another caller's
operation holds that way, ``idle`` only waits for a token (wake.py) and the
template claims after it.

Redis times a BLPOP out only to its ``hz`` tick (up to 100 ms late), too coarse for
a scheduled job's ``run_at``: the wait ends on a timer of our own at the next due
time, which the last claim that found nothing reported (``next_due``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from asynctasq.drivers.redis.core import MAX_CLAIM, RedisCore
from asynctasq.drivers.waiting import wait_for
from asynctasq.jobs import Job

__all__ = ["RedisWaiting"]


class RedisWaiting(RedisCore):
    async def next_due(self, queues: Sequence[str]) -> float | None:
        return self._due.get(tuple(queues))

    async def idle(self, queues: Sequence[str], armed: Any, remaining: float) -> None:
        pause = self._pause(queues, remaining)
        if not queues:
            await wait_for(armed, pause)  # nowhere to look: as if nothing came
            return
        await self._waker.wait(self._claimer_or_raise().wake_groups(queues), pause, armed)

    async def claim_on_wakeup(
        self,
        queues: Sequence[str],
        armed: Any,
        remaining: float,
        *,
        limit: int,
        worker_id: str,
        lease_seconds: float,
    ) -> list[Job]:
        blocking = self._blocking
        if (
            blocking is None  # Cluster: a BLPOP cannot carry a claim across nodes
            or limit <= 0
            or len(queues) == 0
            or len(self._claimer_or_raise().groups(queues)) != 1
            or not blocking.usable(queues, worker_id, lease_seconds)
        ):
            await self.idle(queues, armed, remaining)
            return []
        got = await blocking.wait(
            queues,
            limit=min(limit, MAX_CLAIM),
            worker_id=worker_id,
            lease_seconds=lease_seconds,
            timeout=self._pause(queues, remaining),
            armed=armed,
        )
        if got is None:  # a deadline, or woken without a claim: the template claims
            return []
        return await self._accept(queues, got)

    async def quiesce(self) -> None:
        if self._blocking is not None:
            await self._blocking.quiesce()

    def _pause(self, queues: Sequence[str], remaining: float) -> float:
        pause = min(remaining, self.poll_interval)
        due = self._due.get(tuple(queues))
        if due is not None:
            pause = min(pause, max(due - self.clock.time(), 0.0) + 0.001)
        return pause

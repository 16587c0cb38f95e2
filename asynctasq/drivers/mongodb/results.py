"""The Results capability on MongoDB: a completed job's result outlives its document.

A kept completed job holds its ``result`` in its own document. A job that is not
kept leaves ``{_id, result, finished_at}`` in ``<prefix>_results`` for
``result_retention`` seconds. Without a transaction per settle, the order makes up
for it: the result is written first, then the job's document is deleted under the
settle's fence. A crash between the two (or a fence that no longer holds: the job
went to another worker) leaves a result beside a job that still exists, and a job's
own document always wins over it (``job_outcomes``), so the job's real end is what
waiters see; its next completion writes the result again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pymongo import ReplaceOne

from asynctasq.drivers.capabilities import Results
from asynctasq.drivers.mongodb.documents import by_ids
from asynctasq.drivers.mongodb.store import Store
from asynctasq.drivers.results import StoredOutcome
from asynctasq.jobs import JobState

__all__ = ["MongoResults", "forget_results", "keep_results"]

#: documents read per ``$in`` query (a fan-in child may ask for thousands)
_CHUNK = 1000


async def keep_results(
    store: Store, results: Sequence[tuple[str, bytes | None]], now: float
) -> None:
    """The results of completed jobs whose documents are about to be deleted: one
    round trip for a settle's batch."""
    if results:
        await store.results.bulk_write(
            [
                ReplaceOne(
                    {"_id": job_id},
                    {"_id": job_id, "result": result, "finished_at": now},
                    upsert=True,
                )
                for job_id, result in results
            ],
            ordered=False,
        )


async def forget_results(store: Store, horizon: float) -> None:
    """Results of jobs that finished before ``horizon``."""
    await store.results.delete_many({"finished_at": {"$lt": horizon}})


class MongoResults(Results):
    store: Any  # the driver's Store (a property of the driver)

    async def job_outcomes(self, job_ids: Sequence[str]) -> dict[str, StoredOutcome]:
        store: Store = self.store
        wanted = list(dict.fromkeys(job_ids))
        found: dict[str, StoredOutcome] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            fields = {"_id": 1, "state": 1, "result": 1, "error": 1}
            async for doc in store.results.find(by_ids(chunk), {"_id": 1, "result": 1}):
                found[doc["_id"]] = StoredOutcome(doc["_id"], JobState.COMPLETED, doc.get("result"))
            async for doc in store.jobs.find(by_ids(chunk), fields):  # the job's own wins
                found[doc["_id"]] = StoredOutcome(
                    doc["_id"], _state(doc.get("state")), doc.get("result"), doc.get("error")
                )
        return found


def _state(value: Any) -> JobState:
    try:
        return JobState(value)
    except ValueError:  # a damaged record: as good as unknown to a waiter
        return JobState.PENDING

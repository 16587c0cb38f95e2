"""Tasks that take Django models (this module imports no model: Django is set up
by the test before any model exists)."""

from __future__ import annotations

from typing import Any

from asynctasq.errors import ModelNotFound
from asynctasq.tasks.kinds import AsyncTask, SyncTask

SEEN: list[Any] = []
FAILED: list[BaseException] = []


class GreetAuthor(AsyncTask[None]):
    author: Any

    async def execute(self) -> None:
        SEEN.append((self.author.name, self.author.active))

    async def failed(self, exception: BaseException) -> None:
        FAILED.append(exception)


class Roster(SyncTask[None]):
    authors: list[Any]
    tickets: dict[str, Any]
    members: set[Any]

    def execute(self) -> None:
        SEEN.append(
            {
                "authors": [a.name for a in self.authors],
                "tickets": {k: t.title for k, t in self.tickets.items()},
                "members": sorted((m.team, m.member_no, m.role) for m in self.members),
            }
        )


class RetryMissing(AsyncTask[None]):
    config = {"max_attempts": 2, "retry_delay": 0}
    author: Any

    def should_retry(self, exception: BaseException) -> bool:
        return isinstance(exception, ModelNotFound)

    async def execute(self) -> None:
        SEEN.append(self.author.name)

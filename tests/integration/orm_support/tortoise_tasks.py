"""Tasks that take Tortoise models."""

from __future__ import annotations

from typing import Any

from asynctasq.errors import ModelNotFound
from asynctasq.tasks.kinds import AsyncTask, SyncProcessTask
from tests.integration.orm_support.tortoise_models import Arena, Player

SEEN: list[Any] = []
FAILED: list[BaseException] = []


class GreetPlayer(AsyncTask[None]):
    player: Player

    async def execute(self) -> None:
        SEEN.append((self.player.name, self.player.score))

    async def failed(self, exception: BaseException) -> None:
        FAILED.append(exception)


class Tournament(AsyncTask[None]):
    players: list[Player]
    arenas: dict[str, Arena]

    async def execute(self) -> None:
        SEEN.append(
            {
                "players": [(p.name, p.score) for p in self.players],
                "arenas": {k: a.city for k, a in self.arenas.items()},
            }
        )


class RetryMissing(AsyncTask[None]):
    config = {"max_attempts": 2, "retry_delay": 0}
    player: Player

    def should_retry(self, exception: BaseException) -> bool:
        return isinstance(exception, ModelNotFound)

    async def execute(self) -> None:
        SEEN.append(self.player.name)


class PlayerReport(SyncProcessTask[str]):
    """A pool process has no Tortoise set up: this task's references are refused."""

    player: Player

    def execute(self) -> str:
        return self.player.name

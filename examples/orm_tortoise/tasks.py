"""Tasks that take Tortoise models (app label ``models``: references read
``models.Player``)."""

from __future__ import annotations

from models import Match, Player

from asynctasq import AsyncTask


class AnnounceMatch(AsyncTask[None]):
    match: Match
    players: list[Player]

    async def execute(self) -> None:
        names = " vs ".join(f"{p.name} ({p.rating})" for p in self.players)
        print(f"  match at {self.match.venue}: {names}", flush=True)


class CongratulatePlayer(AsyncTask[None]):
    player: Player

    async def execute(self) -> None:
        print(f"  well played, {self.player.name}", flush=True)

    async def failed(self, exception: BaseException) -> None:
        print(f"  [failed hook] {type(exception).__name__}: {exception}", flush=True)

"""What a SQL dialect gives the shared driver: its named statements, run on its
connections.

Each dialect implements this small interface over its own connection plumbing (one
SQLite thread, an asyncpg pool, an aiomysql pool). Statements are the ones its
``queries.sql`` names; parameters are passed by name (a dialect with positional
parameters maps them, see ``loader.load_signatures``). What is not worth a round
trip here (the claim, a batch of outcomes, an enqueue) each dialect writes itself.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["Statements", "Step"]

#: a statement's name and its parameters
Step = tuple[str, Mapping[str, Any]]


class Statements(abc.ABC):
    @abc.abstractmethod
    async def records(self, name: str, **params: Any) -> list[Any]:
        """The rows of a read, each addressable by column name (``row["id"]``)."""

    @abc.abstractmethod
    async def tuples(self, name: str, **params: Any) -> list[Sequence[Any]]:
        """The rows of a read, each a sequence of its columns."""

    @abc.abstractmethod
    async def value(self, name: str, **params: Any) -> Any:
        """The first column of the first row, or None without a row."""

    @abc.abstractmethod
    async def change(self, name: str, **params: Any) -> int:
        """Run a write; the rows it changed (for a statement that ends in a SELECT,
        the rows that SELECT returned)."""

    @abc.abstractmethod
    async def change_all(self, *steps: Step) -> None:
        """Run several writes in order, in one round trip where the dialect can."""

    @abc.abstractmethod
    def unique_conflict(self, exc: BaseException) -> bool:
        """``exc`` says a write would give a unique key a second unfinished job."""

    @abc.abstractmethod
    def data_error(self, exc: BaseException) -> bool:
        """``exc`` refuses a value or a row (isolate the item at fault), rather than
        saying the broker is unreachable or the statement wrong."""

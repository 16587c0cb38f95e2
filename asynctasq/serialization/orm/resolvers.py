"""How this process fetches each ORM's models: one resolver per ORM, installed by the
ORM's integration module (``orm/sqlalchemy.py``'s ``configure``) or found by
``resolve.py`` when the ORM needs no set-up call.

Its own module so that an integration can install itself without importing
``resolve.py``, which imports the integrations (lazily: each imports its ORM).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from asynctasq.serialization.orm.references import ModelRef

__all__ = ["Resolver", "register_resolver", "registered_resolver"]


class Resolver(Protocol):
    async def fetch(self, refs: Sequence[ModelRef]) -> dict[ModelRef, Any]:
        """The rows found for ``refs`` (distinct, all of this resolver's ORM), one
        query per model class; ``UnknownModelError`` for a model it does not know."""
        ...


_resolvers: dict[str, Resolver] = {}


def register_resolver(orm: str, resolver: Resolver | None) -> None:
    """Install (None: remove) how this process fetches one ORM's models."""
    if resolver is None:
        _resolvers.pop(orm, None)
    else:
        _resolvers[orm] = resolver


def registered_resolver(orm: str) -> Resolver | None:
    return _resolvers.get(orm)

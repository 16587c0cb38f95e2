"""The worker's second decoding step: model references become rows, fetched fresh.

``decode_payload`` yields ``ModelRef`` placeholders; ``resolve_references`` groups
them by ORM and model class, fetches each class's rows with one query, and puts
the instances where the placeholders were (in lists, tuples, dicts and sets too).

A row that is gone, or a database that cannot be reached, leaves its placeholder in
place with the reason attached: the task is still built, and
``raise_for_unresolved`` then fails the attempt through the usual path
(``should_retry``, ``failed()``). A reference to a class the worker does not know
as a model is refused outright (``UnknownModelError``, the job is poison).
"""

from __future__ import annotations

import dataclasses
import logging
import sys
from typing import Any, TypeVar

from asynctasq.config import Config, get_global_config
from asynctasq.errors import ModelNotFound, PoisonJobError
from asynctasq.serialization.orm.references import ModelRef, UnknownModelError
from asynctasq.serialization.orm.resolvers import Resolver, register_resolver, registered_resolver

__all__ = [
    "Resolver",
    "has_references",
    "raise_for_unresolved",
    "register_resolver",
    "resolve_references",
]

log = logging.getLogger("asynctasq.worker")

T = TypeVar("T")


_SETUP_HINTS = {
    "sqlalchemy": (
        "call asynctasq.serialization.orm.sqlalchemy.configure(session_factory, Base) in a "
        "module the worker imports, or set ASYNCTASQ_SQLALCHEMY_SESSION_FACTORY and "
        "ASYNCTASQ_SQLALCHEMY_BASES"
    ),
    "django": "configure Django (settings and django.setup()) in a module the worker imports",
    "tortoise": "await Tortoise.init(...) in the process that runs the worker, before it starts",
}


def _resolver_for(orm: str, ref: ModelRef, config: Config | None) -> Resolver:
    found = registered_resolver(orm)
    if found is not None:
        return found
    # Set-ups that need no call of ours: Django and Tortoise, once the user's own code
    # has loaded them; SQLAlchemy from the settings (trusted configuration).
    if orm == "sqlalchemy":
        config = config or get_global_config()
        if config.sqlalchemy_session_factory:
            # lazy: each integration imports its ORM, which may not be installed
            from asynctasq.serialization.orm.sqlalchemy import resolver_from_settings

            found = resolver_from_settings(config)
    elif orm == "django" and "django.db.models" in sys.modules:
        # lazy: imports Django
        from asynctasq.serialization.orm.django import DjangoResolver

        found = DjangoResolver()
    elif orm == "tortoise" and "tortoise.models" in sys.modules:
        # lazy: imports Tortoise
        from asynctasq.serialization.orm.tortoise import TortoiseResolver

        found = TortoiseResolver()
    if found is None:
        raise UnknownModelError(
            f"the job holds a {orm} model ({ref.model}) but this worker has no {orm} set "
            f"up: {_SETUP_HINTS.get(orm, 'set it up')}"
        )
    return found


def _collect(value: Any, out: list[ModelRef]) -> None:
    if isinstance(value, ModelRef):
        out.append(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _collect(key, out)
            _collect(item, out)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _collect(item, out)


def _substitute(value: Any, found: dict[ModelRef, Any]) -> Any:
    if isinstance(value, ModelRef):
        return found.get(value, value)
    if isinstance(value, dict):
        return {_substitute(k, found): _substitute(v, found) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return type(value)(_substitute(item, found) for item in value)
    return value


def _references(value: Any) -> list[ModelRef]:
    refs: list[ModelRef] = []
    try:
        _collect(value, refs)
    except RecursionError:
        raise PoisonJobError("arguments are nested too deeply to look for models") from None
    return refs


def has_references(value: Any) -> bool:
    return bool(_references(value))


async def resolve_references(value: T, config: Config | None = None) -> T:
    """``value`` with every ModelRef inside replaced by its row, fetched now.

    Unloadable rows stay placeholders carrying the reason (see
    ``raise_for_unresolved``); an unknown model raises ``UnknownModelError``."""
    refs = _references(value)
    if not refs:
        return value
    by_orm: dict[str, list[ModelRef]] = {}
    for ref in dict.fromkeys(refs):
        by_orm.setdefault(ref.orm, []).append(ref)
    found: dict[ModelRef, Any] = {}
    for orm, group in by_orm.items():
        resolver = _resolver_for(orm, group[0], config)
        try:
            found.update(await resolver.fetch(group))
        except PoisonJobError:
            raise
        except Exception as exc:  # the database, unreachable: this attempt fails and retries
            log.warning("cannot load %s models for a job: %s: %s", orm, type(exc).__name__, exc)
            found.update({ref: dataclasses.replace(ref, error=exc) for ref in group})
            continue
        _mark_missing(group, found)
    try:
        return _substitute(value, found)  # type: ignore[no-any-return]
    except RecursionError:
        raise PoisonJobError("arguments are nested too deeply to look for models") from None


def _mark_missing(group: list[ModelRef], found: dict[ModelRef, Any]) -> None:
    missing: dict[str, list[ModelRef]] = {}
    for ref in group:
        if ref not in found:
            missing.setdefault(ref.model, []).append(ref)
    for model, refs in missing.items():
        error = ModelNotFound(model, *(ref.pk for ref in refs))
        found.update({ref: dataclasses.replace(ref, error=error) for ref in refs})


def raise_for_unresolved(value: Any) -> None:
    """Raise why a model in ``value`` could not be loaded: ModelNotFound first (it
    is permanent), else the database error (worth a retry)."""
    refs = _references(value)
    if not refs:
        return
    errors = [ref.error or ModelNotFound(ref.model, ref.pk) for ref in refs]
    raise next((e for e in errors if isinstance(e, ModelNotFound)), errors[0])

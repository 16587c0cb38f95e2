"""SQLAlchemy 2.x models as task arguments.

Dispatch: an instance of any mapped class travels as ``("module:Qualname", primary
key)``; composite keys travel whole. An instance with no row yet (transient or
pending) is refused.

Worker: tell it once where sessions come from and which models it may load::

    from asynctasq.serialization.orm.sqlalchemy import configure
    configure(async_sessionmaker(engine), Base)   # or a sync sessionmaker

(or the settings ``ASYNCTASQ_SQLALCHEMY_SESSION_FACTORY=app.db:Session`` and
``ASYNCTASQ_SQLALCHEMY_BASES=app.models:Base``). Each job's models are loaded in one
short-lived session, one ``SELECT ... WHERE pk IN (...)`` per model class, and
arrive detached with their columns loaded. Sync sessions run in a thread.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import Select, select, tuple_
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import Mapper, Session, registry

from asynctasq.config import Config, ConfigError
from asynctasq.serialization.hooks import class_path
from asynctasq.serialization.orm.references import ModelRef, UnknownModelError, UnsavedModelError
from asynctasq.serialization.orm.resolvers import register_resolver

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

__all__ = ["SQLAlchemyResolver", "configure", "is_model_class", "reference"]

SessionFactory = Callable[[], "Session | AsyncSession"]


def _async_session_type() -> type[AsyncSession] | None:
    try:  # SQLAlchemy's asyncio needs greenlet; sync-only installs do without
        from sqlalchemy.ext.asyncio import AsyncSession
    except ImportError:
        return None
    return AsyncSession


def is_model_class(cls: type) -> bool:
    return isinstance(sa_inspect(cls, raiseerr=False), Mapper)


def reference(obj: Any) -> tuple[str, Any]:
    state = sa_inspect(obj)
    name = class_path(state.class_)
    if state.key is None:  # transient or pending: no row yet
        raise UnsavedModelError(name, "Add it to a session and commit (or flush) it")
    identity = state.key[1]
    return name, identity[0] if len(identity) == 1 else tuple(identity)


def _registry_of(base: Any) -> registry:
    if isinstance(base, registry):
        return base
    found = getattr(base, "registry", None)
    if isinstance(found, registry):
        return found
    raise TypeError(
        f"{base!r} is neither a declarative base nor a sqlalchemy.orm.registry: pass the "
        "Base your models subclass (or the registry that maps them)"
    )


class SQLAlchemyResolver:
    """Loads the mapped classes of the given bases, and nothing else."""

    def __init__(
        self, session_factory: SessionFactory, bases: Sequence[Any], *, chunk_size: int = 1000
    ) -> None:
        if not bases:
            raise ValueError(
                "name the declarative base(s) whose models tasks receive: "
                "configure(session_factory, Base)"
            )
        if chunk_size < 1:
            raise ValueError("chunk_size must be at least 1")
        self.session_factory = session_factory
        self.registries = [_registry_of(base) for base in bases]
        self.chunk_size = chunk_size
        self._classes: dict[str, type] = {}

    def model_class(self, name: str) -> type:
        cls = self._classes.get(name)
        if cls is None:  # a model mapped since we last looked
            self._classes = {
                class_path(mapper.class_): mapper.class_
                for reg in self.registries
                for mapper in reg.mappers
            }
            cls = self._classes.get(name)
        if cls is None:
            raise UnknownModelError(
                f"refused a reference to {name!r}: it is not a mapped class of the declarative "
                "bases given to asynctasq.serialization.orm.sqlalchemy.configure() in this "
                "worker (a forged payload, or a model whose Base the worker was not given)"
            )
        return cls

    async def fetch(self, refs: Sequence[ModelRef]) -> dict[ModelRef, Any]:
        wanted: dict[type, list[ModelRef]] = {}
        for ref in refs:
            wanted.setdefault(self.model_class(ref.model), []).append(ref)
        session = self.session_factory()
        async_session = _async_session_type()
        if async_session is not None and isinstance(session, async_session):
            async with session:
                found: dict[ModelRef, Any] = {}
                for stmt, chunk in self._statements(wanted):
                    found.update(_match(chunk, (await session.scalars(stmt)).unique().all()))
                return found
        if isinstance(session, Session):
            return await asyncio.to_thread(self._fetch_sync, session, wanted)
        raise UnknownModelError(
            f"the SQLAlchemy session factory returned {type(session).__name__}, not a Session "
            "or AsyncSession: configure() wants a sessionmaker or async_sessionmaker"
        )

    def _fetch_sync(
        self, session: Session, wanted: dict[type, list[ModelRef]]
    ) -> dict[ModelRef, Any]:
        with session:
            found: dict[ModelRef, Any] = {}
            for stmt, chunk in self._statements(wanted):
                found.update(_match(chunk, session.scalars(stmt).unique().all()))
            return found

    def _statements(
        self, wanted: dict[type, list[ModelRef]]
    ) -> Iterator[tuple[Select[Any], list[ModelRef]]]:
        """One SELECT per class (per ``chunk_size`` keys, for huge lists)."""
        for cls, refs in wanted.items():
            mapper: Mapper[Any] = sa_inspect(cls)
            columns = mapper.primary_key
            for start in range(0, len(refs), self.chunk_size):
                chunk = refs[start : start + self.chunk_size]
                if len(columns) == 1:
                    condition = columns[0].in_([ref.pk for ref in chunk])
                else:
                    condition = tuple_(*columns).in_([_key(ref.pk) for ref in chunk])
                yield select(cls).where(condition), chunk


def _key(pk: Any) -> tuple[Any, ...]:
    return pk if isinstance(pk, tuple) else (pk,)


def _match(chunk: list[ModelRef], rows: Sequence[Any]) -> dict[ModelRef, Any]:
    by_key = {tuple(sa_inspect(row).key[1]): row for row in rows}
    return {ref: by_key[_key(ref.pk)] for ref in chunk if _key(ref.pk) in by_key}


def configure(
    session_factory: SessionFactory, *bases: Any, chunk_size: int = 1000
) -> SQLAlchemyResolver:
    """Let this process load SQLAlchemy models for tasks: ``session_factory`` makes a
    new session per call (``sessionmaker`` or ``async_sessionmaker``); only mapped
    classes of ``bases`` (declarative bases or registries) are ever loaded."""
    resolver = SQLAlchemyResolver(session_factory, bases, chunk_size=chunk_size)
    register_resolver("sqlalchemy", resolver)
    return resolver


def unconfigure() -> None:
    register_resolver("sqlalchemy", None)


def _import_setting(target: str, env: str) -> Any:
    module_name, _, attribute = target.partition(":")
    if not module_name or not attribute:
        raise ConfigError(f"{env}={target!r} is not valid: expected module:attribute")
    try:
        obj: Any = importlib.import_module(module_name)  # trusted configuration
        for part in attribute.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"{env}={target!r}: cannot load it ({exc})") from exc
    return obj


def resolver_from_settings(config: Config) -> SQLAlchemyResolver:
    """configure() from ASYNCTASQ_SQLALCHEMY_SESSION_FACTORY and _BASES."""
    try:
        factory = _import_setting(
            config.sqlalchemy_session_factory or "", "ASYNCTASQ_SQLALCHEMY_SESSION_FACTORY"
        )
        if not config.sqlalchemy_bases:
            raise ConfigError(
                "ASYNCTASQ_SQLALCHEMY_BASES is empty: name the declarative base(s) whose "
                "models tasks receive, e.g. app.models:Base"
            )
        bases = [_import_setting(b, "ASYNCTASQ_SQLALCHEMY_BASES") for b in config.sqlalchemy_bases]
        return configure(factory, *bases)
    except (ConfigError, TypeError, ValueError) as exc:
        raise UnknownModelError(f"cannot set up SQLAlchemy from the settings: {exc}") from exc

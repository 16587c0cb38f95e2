"""A model instance travels as a reference: (stable model name, primary key).

The hooks here never import an ORM. A hook wakes up only once your code has
imported its ORM (an object cannot be a Django model before Django is loaded), so
a worker without SQLAlchemy, Django or Tortoise pays nothing for them.

Decoding a reference yields a ``ModelRef`` placeholder and touches no database:
the worker swaps placeholders for rows in a second, async step
(``asynctasq.serialization.resolve``), one query per model class.
"""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol

from asynctasq.errors import PoisonJobError, SerializationError
from asynctasq.serialization.hooks import TypeHook


@dataclass(frozen=True, slots=True)
class ModelRef:
    """A model instance not loaded (yet): what a task sees for a row that could not
    be fetched, and what decoding a payload gives outside the worker."""

    orm: ClassVar[str] = ""

    model: str
    #: a scalar, or a tuple for a composite primary key
    pk: Any
    #: why the worker could not load it (ModelNotFound, a database error)
    error: BaseException | None = field(default=None, compare=False, repr=False)

    def __repr__(self) -> str:
        return f"<{self.orm} {self.model} pk={self.pk!r} (not loaded)>"


@dataclass(frozen=True, slots=True, repr=False)
class SQLAlchemyRef(ModelRef):
    """A SQLAlchemy model instance not loaded."""

    orm: ClassVar[str] = "sqlalchemy"


@dataclass(frozen=True, slots=True, repr=False)
class DjangoRef(ModelRef):
    """A Django model instance not loaded."""

    orm: ClassVar[str] = "django"


@dataclass(frozen=True, slots=True, repr=False)
class TortoiseRef(ModelRef):
    """A Tortoise ORM model instance not loaded."""

    orm: ClassVar[str] = "tortoise"


class UnsavedModelError(SerializationError):
    """A model instance without a row (no primary key yet) cannot go to a task."""

    def __init__(self, model: str, how: str) -> None:
        super().__init__(
            f"cannot send an unsaved {model} to a task: it has no primary key yet. "
            f"{how} before dispatching, so the worker can fetch the row"
        )


class UnknownModelError(PoisonJobError):
    """A reference names a class this worker does not know as a model: a forged or
    stale payload, or a worker that was not told about the model. Nothing is
    imported to find out."""


class OrmIntegration(Protocol):
    """What ``asynctasq.serialization.orm.<orm>`` provides to the hook."""

    def is_model_class(self, cls: type) -> bool: ...

    def reference(self, obj: Any) -> tuple[str, Any]: ...


class OrmHook(TypeHook):
    """Model instances of one ORM (and its placeholders) <-> [model name, pk]."""

    ref_type: ClassVar[type[ModelRef]]

    def claims(self, cls: type) -> bool:
        # no model class of an ORM can exist before the ORM is loaded
        if _MARKER_MODULES[self.ref_type.orm] not in sys.modules:
            return False
        return self.integration().is_model_class(cls)

    def integration(self) -> OrmIntegration:
        # our own module, chosen by this hook, never by a payload; its ORM is loaded
        name = f"asynctasq.serialization.orm.{self.ref_type.orm}"
        module: Any = importlib.import_module(name)
        return module  # type: ignore[no-any-return]

    def encode(self, obj: Any) -> Any:
        if isinstance(obj, ModelRef):
            model, pk = obj.model, obj.pk
        else:
            model, pk = self.integration().reference(obj)
        return [model, list(pk) if isinstance(pk, tuple) else pk]

    def decode(self, data: Any) -> ModelRef:
        orm = self.ref_type.orm
        if not (isinstance(data, list) and len(data) == 2 and isinstance(data[0], str)):
            raise ValueError(f"malformed {orm} model reference")
        model, pk = data
        if isinstance(pk, list):
            pk = tuple(pk)
        if pk is None or isinstance(pk, dict):
            raise ValueError(f"malformed {orm} model reference: bad primary key")
        hash(pk)  # a TypeError here: an unhashable part inside a composite key
        return self.ref_type(model, pk)


#: a module that is loaded whenever a model class of the ORM exists
_MARKER_MODULES = {
    "sqlalchemy": "sqlalchemy.orm",
    "django": "django.db.models",
    "tortoise": "tortoise.models",
}


class SQLAlchemyHook(OrmHook):
    code, ref_type, types = 20, SQLAlchemyRef, (SQLAlchemyRef,)


class DjangoHook(OrmHook):
    code, ref_type, types = 21, DjangoRef, (DjangoRef,)


class TortoiseHook(OrmHook):
    code, ref_type, types = 22, TortoiseRef, (TortoiseRef,)


ORM_HOOKS: tuple[TypeHook, ...] = (SQLAlchemyHook(), DjangoHook(), TortoiseHook())

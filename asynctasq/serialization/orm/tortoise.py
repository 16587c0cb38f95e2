"""Tortoise ORM models as task arguments.

Dispatch: a model instance travels as ``("app.ModelName", pk)``; one not saved yet is
refused.

Worker: ``await Tortoise.init(...)`` in the process that runs the worker, before it
starts (Tortoise keeps its state in a context: jobs inherit the one the worker was
started in). Only models registered with Tortoise are loaded, one query per model
class, through an unfiltered queryset (a custom default manager does not hide rows).
Pool processes (process tasks) have no Tortoise set up: pass ids to those.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tortoise import Tortoise
from tortoise.exceptions import ConfigurationError
from tortoise.models import Model
from tortoise.queryset import QuerySet

from asynctasq.serialization.orm.references import ModelRef, UnknownModelError, UnsavedModelError

__all__ = ["TortoiseResolver", "is_model_class", "reference"]

CHUNK = 1000


def is_model_class(cls: type) -> bool:
    return issubclass(cls, Model)


def reference(obj: Any) -> tuple[str, Any]:
    name = obj._meta.full_name
    if not obj._saved_in_db or obj.pk is None:
        raise UnsavedModelError(name, "Save it (await obj.save() or Model.create(...))")
    return name, obj.pk


def _model_class(name: str) -> Any:
    registered = Tortoise.apps
    if registered is None:
        raise UnknownModelError(
            f"cannot load Tortoise model {name!r}: Tortoise is not initialised here; "
            "await Tortoise.init(...) before starting the worker (pool processes have none)"
        )
    app, _, model = name.partition(".")
    try:
        return registered.get_model(app, model)  # registered models only; imports nothing
    except (ConfigurationError, KeyError) as exc:
        raise UnknownModelError(
            f"refused a reference to {name!r}: it is not a model registered with Tortoise "
            "in this worker (a forged payload, or a models module missing from Tortoise.init)"
        ) from exc


class TortoiseResolver:
    async def fetch(self, refs: Sequence[ModelRef]) -> dict[ModelRef, Any]:
        wanted: dict[Any, list[ModelRef]] = {}
        for ref in refs:
            wanted.setdefault(_model_class(ref.model), []).append(ref)
        found: dict[ModelRef, Any] = {}
        for model, group in wanted.items():
            for start in range(0, len(group), CHUNK):
                chunk = group[start : start + CHUNK]
                rows = await QuerySet(model).filter(pk__in=[ref.pk for ref in chunk])
                by_pk = {row.pk: row for row in rows}
                found.update({ref: by_pk[ref.pk] for ref in chunk if ref.pk in by_pk})
        return found

"""Django models as task arguments.

Dispatch: a model instance travels as ``("app_label.ModelName", pk)``; Django 5.2
composite primary keys travel whole. An instance not saved yet is refused.

Worker: configure Django as your project does (``DJANGO_SETTINGS_MODULE`` and
``django.setup()``) in a module the worker imports; nothing else. Only models of
installed apps are loaded, through their base manager (default-manager filters such
as soft deletion do not hide a row), one query per model class, in Django's
sync thread with ``close_old_connections()`` first as a request would.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from asgiref.sync import sync_to_async
from django.apps import apps
from django.core.exceptions import AppRegistryNotReady
from django.db import close_old_connections
from django.db.models import Model

from asynctasq.serialization.orm.references import ModelRef, UnknownModelError, UnsavedModelError

__all__ = ["DjangoResolver", "is_model_class", "reference"]

CHUNK = 1000


def is_model_class(cls: type) -> bool:
    return issubclass(cls, Model)


def reference(obj: Any) -> tuple[str, Any]:
    name = obj._meta.label
    if obj._state.adding or obj.pk is None:
        raise UnsavedModelError(name, "Save it (obj.save() / await obj.asave())")
    return name, obj.pk


def _model_class(name: str) -> Any:
    try:
        return apps.get_model(name)  # installed apps only; imports nothing
    except AppRegistryNotReady as exc:
        raise UnknownModelError(
            f"cannot load Django model {name!r}: Django is not set up in this worker "
            "(call django.setup() in a module the worker imports)"
        ) from exc
    except (LookupError, ValueError) as exc:
        raise UnknownModelError(
            f"refused a reference to {name!r}: it is not a model of an installed Django app "
            "(a forged payload, or an app missing from INSTALLED_APPS in this worker)"
        ) from exc


def _pk_key(pk: Any) -> Any:
    return tuple(pk) if isinstance(pk, list) else pk


class DjangoResolver:
    async def fetch(self, refs: Sequence[ModelRef]) -> dict[ModelRef, Any]:
        wanted: dict[Any, list[ModelRef]] = {}
        for ref in refs:
            wanted.setdefault(_model_class(ref.model), []).append(ref)
        found: dict[ModelRef, Any] = await sync_to_async(_fetch, thread_sensitive=True)(wanted)
        return found


def _fetch(wanted: dict[Any, list[ModelRef]]) -> dict[ModelRef, Any]:
    close_old_connections()  # drop connections the database closed meanwhile
    found: dict[ModelRef, Any] = {}
    for model, refs in wanted.items():
        for start in range(0, len(refs), CHUNK):
            chunk = refs[start : start + CHUNK]
            rows = model._base_manager.filter(pk__in=[ref.pk for ref in chunk])
            by_pk = {_pk_key(row.pk): row for row in rows}
            found.update({ref: by_pk[ref.pk] for ref in chunk if ref.pk in by_pk})
    return found

"""Your own types as task arguments: one TypeHook each, registered at import.

Both sides need the hooks: the code that dispatches (to encode) and the worker (to
decode). Importing this module from your tasks module does both, since the worker
imports that (--import tasks). Extension codes 64..127 are yours.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

from pydantic import BaseModel

from asynctasq import TypeHook, register_hook
from asynctasq.serialization.hooks import class_path, loaded_class


# 1. A value type: one class, a fixed shape.
@dataclasses.dataclass(frozen=True)
class Money:
    amount: Decimal
    currency: str


class MoneyHook(TypeHook):
    code = 64
    types = (Money,)

    def encode(self, obj: Money) -> Any:
        return [obj.amount, obj.currency]  # Decimal has a built-in hook: nest it freely

    def decode(self, data: Any) -> Money:
        amount, currency = data
        return Money(amount, currency)


# 2. A family of classes with no common base (dataclasses): claim them with claims().
#    Only the classes you list travel, under names you choose, so renaming a class
#    does not strand jobs already queued.
PAYLOAD_DATACLASSES: dict[str, type] = {}


def payload(name: str) -> Any:
    """Class decorator: let this dataclass travel in job arguments as ``name``."""

    def mark(cls: type) -> type:
        PAYLOAD_DATACLASSES[name] = cls
        cls.__payload_name__ = name  # type: ignore[attr-defined]
        return cls

    return mark


class DataclassHook(TypeHook):
    code = 65
    types = ()

    def claims(self, cls: type) -> bool:
        return cls in PAYLOAD_DATACLASSES.values()

    def encode(self, obj: Any) -> Any:
        fields = {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
        return [obj.__payload_name__, fields]  # field values may be hooked types too

    def decode(self, data: Any) -> Any:
        name, fields = data
        cls = PAYLOAD_DATACLASSES.get(name)
        if cls is None:
            raise ValueError(f"no dataclass is registered as {name!r} in this worker")
        return cls(**fields)


# 3. Every pydantic model: claim the base class. Decoding looks the class up among
#    modules already loaded (loaded_class never imports), and pydantic validates.
class PydanticHook(TypeHook):
    code = 66
    types = (BaseModel,)

    def encode(self, obj: BaseModel) -> Any:
        return [class_path(type(obj)), obj.model_dump(mode="python")]

    def decode(self, data: Any) -> BaseModel:
        path, values = data
        cls = loaded_class(path)
        if cls is None or not issubclass(cls, BaseModel):
            raise ValueError(f"{path} is not a pydantic model loaded in this worker")
        return cls.model_validate(values)


for hook in (MoneyHook(), DataclassHook(), PydanticHook()):
    register_hook(hook)

"""Type hooks: how a Python type travels inside a msgpack extension type.

A hook claims one or more types, turns an instance into plain msgpack data
(``encode``) and back (``decode``). Hooks never import anything a payload names: a
hook that needs a class (Enum, ORM models) looks it up among classes the worker
has already loaded or registered.

bytes travel natively (a bytearray arrives as bytes: msgpack packs it before any
hook can see it). Extension codes: 1-19 built-in value types, 20-39 ORM references, 64-127 for
your own hooks (``register_hook``).
"""

from __future__ import annotations

import datetime as dt
import sys
import uuid
from decimal import Decimal
from enum import Enum
from typing import Any, ClassVar

__all__ = ["BUILTIN_HOOKS", "TypeHook", "class_path", "loaded_class"]


class TypeHook:
    """Subclass it, set ``code`` and ``types``, implement encode and decode."""

    code: ClassVar[int]
    types: ClassVar[tuple[type, ...]]
    #: for a hook whose encoding is plain msgpack data of a fixed shape, with no other
    #: values inside (no tuples, no hooked values): the levels it takes, the
    #: extension's own included. The serializer then packs it without measuring it.
    plain_depth: ClassVar[int | None] = None

    def encode(self, obj: Any) -> Any:
        """Plain msgpack data (other hooked values allowed inside) for ``obj``."""
        raise NotImplementedError

    def decode(self, data: Any) -> Any:
        """The value back from what ``encode`` returned."""
        raise NotImplementedError

    def claims(self, cls: type) -> bool:
        """Whether this hook also encodes instances of ``cls``, beyond ``types``: for
        families of classes without a common base (SQLAlchemy-mapped classes,
        dataclasses). Called once per class; the answer is cached."""
        return False


def class_path(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def loaded_class(path: str) -> type | None:
    """Resolve ``module:Qualname`` among modules already imported; never imports."""
    module_name, _, qualname = path.partition(":")
    obj: Any = sys.modules.get(module_name)
    for part in qualname.split("."):
        if obj is None or part.startswith("__") or part == "<locals>":
            return None
        obj = getattr(obj, part, None)
    return obj if isinstance(obj, type) else None


def _tz_encode(tz: dt.tzinfo | None, ref: dt.datetime | None) -> Any:
    if tz is None:
        return None
    # zoneinfo is imported by whoever makes a ZoneInfo, not by every start-up
    zoneinfo = sys.modules.get("zoneinfo")
    if zoneinfo is not None and isinstance(tz, zoneinfo.ZoneInfo) and tz.key:
        return tz.key
    if tz is dt.UTC:
        return 0
    offset = tz.utcoffset(ref)
    assert offset is not None, "an aware time has an offset"
    name = tz.tzname(ref) if isinstance(tz, dt.timezone) else None
    return [offset // dt.timedelta(microseconds=1), name]


def _tz_decode(data: Any) -> dt.tzinfo | None:
    if data is None:
        return None
    if data == 0:
        return dt.UTC
    if isinstance(data, str):
        from zoneinfo import ZoneInfo

        return ZoneInfo(data)
    micros, name = data
    offset = dt.timedelta(microseconds=micros)
    return dt.timezone(offset, name) if name is not None else dt.timezone(offset)


class DateTimeHook(TypeHook):
    """Naive and aware datetimes, exactly: fields, zone (IANA key or offset), fold."""

    code = 1
    types = (dt.datetime,)
    plain_depth = 2

    def encode(self, obj: dt.datetime) -> Any:
        fields = [obj.year, obj.month, obj.day, obj.hour, obj.minute, obj.second, obj.microsecond]
        return [*fields, _tz_encode(obj.tzinfo, obj), obj.fold]

    def decode(self, data: Any) -> dt.datetime:
        year, month, day, hour, minute, second, micros, tz, fold = data
        return dt.datetime(
            year, month, day, hour, minute, second, micros, tzinfo=_tz_decode(tz), fold=fold
        )


class DateHook(TypeHook):
    code = 2
    types = (dt.date,)
    plain_depth = 1

    def encode(self, obj: dt.date) -> Any:
        return [obj.year, obj.month, obj.day]

    def decode(self, data: Any) -> dt.date:
        return dt.date(*data)


class TimeHook(TypeHook):
    code = 3
    types = (dt.time,)
    plain_depth = 2

    def encode(self, obj: dt.time) -> Any:
        tz = _tz_encode(obj.tzinfo, None)
        return [obj.hour, obj.minute, obj.second, obj.microsecond, tz, obj.fold]

    def decode(self, data: Any) -> dt.time:
        hour, minute, second, micros, tz, fold = data
        return dt.time(hour, minute, second, micros, tzinfo=_tz_decode(tz), fold=fold)


class TimeDeltaHook(TypeHook):
    code = 4
    types = (dt.timedelta,)
    plain_depth = 1

    def encode(self, obj: dt.timedelta) -> Any:
        return [obj.days, obj.seconds, obj.microseconds]

    def decode(self, data: Any) -> dt.timedelta:
        days, seconds, micros = data
        return dt.timedelta(days=days, seconds=seconds, microseconds=micros)


class DecimalHook(TypeHook):
    code = 5
    types = (Decimal,)
    plain_depth = 1

    def encode(self, obj: Decimal) -> Any:
        return str(obj)

    def decode(self, data: Any) -> Decimal:
        return Decimal(data)


class UUIDHook(TypeHook):
    code = 6
    types = (uuid.UUID,)
    plain_depth = 1

    def encode(self, obj: uuid.UUID) -> Any:
        return obj.bytes

    def decode(self, data: Any) -> uuid.UUID:
        return uuid.UUID(bytes=data)


class SetHook(TypeHook):
    code = 7
    types = (set,)

    def encode(self, obj: set[Any]) -> Any:
        return list(obj)

    def decode(self, data: Any) -> set[Any]:
        return set(data)


class FrozenSetHook(TypeHook):
    code = 8
    types = (frozenset,)

    def encode(self, obj: frozenset[Any]) -> Any:
        return list(obj)

    def decode(self, data: Any) -> frozenset[Any]:
        return frozenset(data)


class TupleHook(TypeHook):
    code = 9
    types = (tuple,)

    def encode(self, obj: tuple[Any, ...]) -> Any:
        return list(obj)

    def decode(self, data: Any) -> tuple[Any, ...]:
        return tuple(data)


class EnumHook(TypeHook):
    """An Enum member by class and value. The class must already be loaded in the
    worker (it is, when the task module that uses it is imported)."""

    code = 10
    types = (Enum,)

    def encode(self, obj: Enum) -> Any:
        return [class_path(type(obj)), obj.value]

    def decode(self, data: Any) -> Enum:
        path, value = data
        cls = loaded_class(path)
        if cls is None or not issubclass(cls, Enum):
            raise ValueError(
                f"enum {path} is not loaded in this worker: import its module in the "
                "worker (--import) so the value can be rebuilt"
            )
        return cls(value)


class BigIntHook(TypeHook):
    """Integers beyond msgpack's 64 bits."""

    code = 12
    types = ()  # chosen by the serializer on overflow, not by type
    plain_depth = 1

    def encode(self, obj: int) -> Any:
        return str(obj)

    def decode(self, data: Any) -> int:
        return int(data)


BUILTIN_HOOKS: tuple[TypeHook, ...] = (
    DateTimeHook(),  # before DateHook: datetime is a subclass of date
    DateHook(),
    TimeHook(),
    TimeDeltaHook(),
    DecimalHook(),
    UUIDHook(),
    SetHook(),
    FrozenSetHook(),
    TupleHook(),
    EnumHook(),
    BigIntHook(),
)

"""msgpack with extension types: the only format a job's arguments travel in.

Pickle never goes to the broker: decoding a payload can only build plain data and
the types of registered hooks. Both directions share one depth limit and one size
limit (see limits.py): what ``dumps`` accepts, ``loads`` accepts, and nothing is
decoded before the bytes were checked against both.
"""

from __future__ import annotations

import functools
import threading
from typing import TYPE_CHECKING, Any

import msgpack

from asynctasq.errors import DecodeError, PayloadLimitError, SerializationError
from asynctasq.serialization.hooks import (
    BUILTIN_HOOKS,
    BigIntHook,
    FrozenSetHook,
    SetHook,
    TupleHook,
    TypeHook,
)
from asynctasq.serialization.limits import (
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_SIZE,
    MAX_DEPTH_CEILING,
    MAX_SIZE_CEILING,
    NOT_OPENERS,
    Malformed,
    opener_bound,
    shallow_depth,
    value_depth,
    wire_depth,
)

if TYPE_CHECKING:
    from asynctasq.config import Config
from asynctasq.serialization.orm.references import ORM_HOOKS

__all__ = [
    "DecodeError",
    "PayloadLimitError",
    "SerializationError",
    "Serializer",
    "default_hooks",
    "default_serializer",
    "dumps",
    "loads",
    "register_hook",
    "serializer_for",
]

_BIG = BigIntHook()
#: built-in containers whose hook encodes the very items of the value, which
#: value_depth has measured already
_SAME_ITEMS: dict[type, type[TypeHook]] = {tuple: TupleHook, set: SetHook, frozenset: FrozenSetHook}
#: msgpack.unpackb keeps its 1024-level parse stack (~40 kB) on the C stack: an
#: extension value inside an extension value inside... uses it for the first levels
#: only (the common case: a datetime in a tuple); deeper ones use an Unpacker, whose
#: parse stack lives on the heap (~2 kB of C stack a level, 4x slower to set up). The
#: deepest setting (128) then decodes within ~400 kB of stack: inside the 512 kB of a
#: macOS thread, not only the 8 MB of a Linux main thread.
_STACK_CHEAP_LEVELS = 3
#: up to this many bytes, a payload's depth is first bounded on its bytes (opener_bound)
_SMALL = 2048
#: the lowest byte that opens an extension value (0xc7: ext 8; fixext are 0xd4-0xd8)
_FIRST_EXT_OPENER = 0xC7


def default_hooks() -> tuple[TypeHook, ...]:
    """The built-in value hooks, then the ORM reference hooks (they import no ORM)."""
    return (*BUILTIN_HOOKS, *ORM_HOOKS)


def _checked_limit(name: str, value: int, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name}={value!r} is not valid: expected a whole number {low}..{high}")
    return value


class _HookTable:
    """The hooks of a serializer, shared by its copies with other limits."""

    def __init__(self) -> None:
        self.by_code: dict[int, TypeHook] = {}
        self.hooks: list[TypeHook] = []
        self.by_type: dict[type, TypeHook | None] = {}


class _Packing:
    """One dumps() under way: where hooked values sit, and the deepest level seen."""

    __slots__ = ("deepest", "limit", "positions")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.positions: dict[int, int] = {}
        self.deepest = 0


class _Decoding:
    """One loads() under way: the limit, and the deepest extension content seen (in
    levels, beyond the level the extension value itself sits at)."""

    __slots__ = ("ext_height", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.ext_height = 0


class Serializer:
    """Encodes and decodes payloads. ``max_depth`` (levels, 1..128) and ``max_size``
    (bytes) bound what either direction accepts; see docs/serialization.md."""

    def __init__(
        self,
        hooks: tuple[TypeHook, ...] | None = None,
        *,
        max_depth: int = DEFAULT_MAX_DEPTH,
        max_size: int = DEFAULT_MAX_SIZE,
    ) -> None:
        self.max_depth = _checked_limit("max_depth", max_depth, 1, MAX_DEPTH_CEILING)
        self.max_size = _checked_limit("max_size", max_size, 1, MAX_SIZE_CEILING)
        self._table = _HookTable()
        for hook in default_hooks() if hooks is None else hooks:
            self.register(hook)

    def with_limits(
        self, *, max_depth: int | None = None, max_size: int | None = None
    ) -> Serializer:
        """A serializer with the same hooks (registered now or later) and other limits."""
        copy = Serializer.__new__(Serializer)
        copy.max_depth = _checked_limit(
            "max_depth", self.max_depth if max_depth is None else max_depth, 1, MAX_DEPTH_CEILING
        )
        copy.max_size = _checked_limit(
            "max_size", self.max_size if max_size is None else max_size, 1, MAX_SIZE_CEILING
        )
        copy._table = self._table
        return copy

    # -- hooks ---------------------------------------------------------------------

    def register(self, hook: TypeHook) -> None:
        """Add a hook; a later hook for the same type wins over an earlier one."""
        if not 0 <= hook.code <= 127:
            raise ValueError(f"hook code {hook.code} is outside msgpack's 0..127")
        table = self._table
        existing = table.by_code.get(hook.code)
        if existing is not None and type(existing) is not type(hook):
            raise ValueError(
                f"extension code {hook.code} is taken by {type(existing).__name__}; "
                "use a free code in 64..127 for your own hooks"
            )
        table.by_code[hook.code] = hook
        table.hooks[:] = [hook, *(h for h in table.hooks if h.code != hook.code)]
        table.by_type.clear()

    def hook_for(self, cls: type) -> TypeHook | None:
        table = self._table
        try:
            return table.by_type[cls]
        except KeyError:
            pass
        found = None
        for klass in cls.__mro__:  # the most specific registered type wins
            found = next((h for h in table.hooks if klass in h.types), None)
            if found is not None:
                break
        if found is None:
            found = next((h for h in table.hooks if h.claims(cls)), None)
        table.by_type[cls] = found
        return found

    # -- encoding --------------------------------------------------------------------

    def dumps(self, obj: Any, *, outer_levels: int = 0) -> bytes:
        """``obj`` as msgpack; SerializationError (PayloadLimitError for the depth and
        size limits) when it cannot travel. ``outer_levels``: levels of a wrapper of
        ours around the value, not counted against the limit."""
        limit = self.max_depth + outer_levels
        depth = shallow_depth(obj)
        if depth is not None:  # flat values (most jobs): nothing for a hook, depth known
            return self._dumps_plain(obj, depth, limit)
        packing = _Packing(limit)
        packing.deepest = value_depth(obj, 0, packing.limit, packing.positions)
        if packing.deepest > packing.limit:
            raise self._too_deep()
        try:
            data = self._pack(obj, packing)
        except SerializationError:
            raise
        except RecursionError:  # a hook that keeps wrapping values in new ones
            raise self._too_deep() from None
        except (TypeError, ValueError, OverflowError) as exc:
            raise SerializationError(f"cannot serialize {type(obj).__name__}: {exc}") from exc
        self._check_size(data)
        # an int beyond 64 bits is an extension one level below where it sits: only at
        # the very limit can that make a difference, and the wire says for sure
        if packing.deepest >= packing.limit and wire_depth(data, packing.limit) > packing.limit:
            raise self._too_deep()
        return data

    def _dumps_plain(self, obj: Any, depth: int, limit: int) -> bytes:
        """``dumps`` of a value of plain scalars ``depth`` levels deep, without measuring
        it again: the same checks, in the same order, on the same numbers."""
        if depth > limit:
            raise self._too_deep()
        try:
            data: bytes = _plain_packer().pack(obj)
        except (TypeError, ValueError, OverflowError) as exc:
            raise SerializationError(f"cannot serialize {type(obj).__name__}: {exc}") from exc
        self._check_size(data)
        if depth >= limit and wire_depth(data, limit) > limit:  # a big int, at the very limit
            raise self._too_deep()
        return data

    def _check_size(self, data: bytes) -> None:
        if len(data) > self.max_size:
            raise PayloadLimitError(
                f"the payload is {len(data)} bytes, over the limit of {self.max_size} "
                "(max_payload_size, ASYNCTASQ_MAX_PAYLOAD_SIZE): send a reference to the "
                "data (a path, a URL, a model) instead of the data, or raise the limit",
                limit=self.max_size,
                setting="max_payload_size",
            )

    def _too_deep(self) -> PayloadLimitError:
        return PayloadLimitError(
            f"the value is nested more than {self.max_depth} levels deep (each list, "
            "dict, tuple, set or hooked value is a level): flatten it, or raise the "
            "limit with max_payload_depth (ASYNCTASQ_MAX_PAYLOAD_DEPTH, or "
            "Serializer(max_depth=...)) on producers and workers alike",
            limit=self.max_depth,
            setting="max_payload_depth",
        )

    def _pack(self, obj: Any, packing: _Packing) -> bytes:
        default = functools.partial(self._default, packing)
        return msgpack.packb(obj, default=default, strict_types=True, use_bin_type=True)  # type: ignore[no-any-return]

    def _default(self, packing: _Packing, obj: Any) -> msgpack.ExtType:
        if type(obj) is int:  # beyond 64 bits: msgpack hands it back to us
            return msgpack.ExtType(_BIG.code, msgpack.packb(_BIG.encode(obj)))
        hook = self.hook_for(type(obj))
        if hook is None:
            raise SerializationError(
                f"cannot send a {type(obj).__module__}.{type(obj).__qualname__} to a task: pass "
                "plain values, or register a TypeHook for it (see docs/serialization.md)"
            )
        position = packing.positions.get(id(obj), 0)
        plain = hook.encode(obj)
        if hook.plain_depth is not None:  # a datetime, a Decimal...: nothing to measure
            packing.deepest = max(packing.deepest, position + hook.plain_depth)
            return msgpack.ExtType(hook.code, msgpack.packb(plain, use_bin_type=True))
        if type(hook) is not _SAME_ITEMS.get(type(obj)):
            # a fresh measure: the encoding's own values are new objects
            inner = _Packing(packing.limit)
            start = position if type(plain) in (list, dict) else position + 1
            inner.deepest = value_depth(plain, start, packing.limit, inner.positions)
            if inner.deepest > packing.limit:
                raise self._too_deep()
            packing.deepest = max(packing.deepest, inner.deepest)
            data = self._pack(plain, inner)
            packing.deepest = max(packing.deepest, inner.deepest)
            return msgpack.ExtType(hook.code, data)
        return msgpack.ExtType(hook.code, self._pack(plain, packing))

    # -- decoding --------------------------------------------------------------------

    def loads(self, data: bytes, *, outer_levels: int = 0) -> Any:
        """Decode a payload; anything wrong with the bytes, or over the limits, raises
        DecodeError. ``outer_levels``: as for ``dumps``."""
        if type(data) is bytes and len(data) <= _SMALL and len(data) <= self.max_size:
            openers = data.translate(None, NOT_OPENERS)
            # most payloads: fewer bytes that could open a level than the limit, none
            # of which could open an extension (those bytes are all 0xc7 and above):
            # no hook to run, nothing deeper to count
            plain = len(openers) <= self.max_depth + outer_levels and (
                not openers or max(openers) < _FIRST_EXT_OPENER
            )
        else:
            plain = False
        if plain:
            try:
                return msgpack.unpackb(data, raw=False, strict_map_key=False)
            except Exception as exc:  # garbage: the same error as the general path's
                raise DecodeError(f"undecodable payload ({type(exc).__name__}: {exc})") from exc
        if not isinstance(data, bytes):
            if not isinstance(data, bytearray | memoryview):
                raise DecodeError(f"a payload is bytes, not {type(data).__name__}")
            data = bytes(data)
        if len(data) > self.max_size:
            raise DecodeError(
                f"the payload is {len(data)} bytes, over the limit of {self.max_size} "
                "(max_payload_size, ASYNCTASQ_MAX_PAYLOAD_SIZE of this process)"
            )
        # msgpack builds arrays and maps without recursion, and claims no more memory
        # than the bytes can fill; extension values recurse, so _ext counts their levels
        # and refuses past the limit. What was built is then measured: cheaply bounded
        # first, read exactly from the bytes only when the bound is not enough.
        decoding = _Decoding(self.max_depth + outer_levels)
        try:
            value = self._unpack(data, 0, decoding)
        except DecodeError:
            raise
        except Exception as exc:  # msgpack and the hooks raise many types on garbage input
            raise DecodeError(f"undecodable payload ({type(exc).__name__}: {exc})") from exc
        limit = decoding.limit
        if len(data) <= _SMALL and opener_bound(data) <= limit:
            return value
        built = value_depth(value, 0, limit, most=len(data))
        if built + decoding.ext_height > limit:
            try:
                too_deep = wire_depth(data, limit) > limit
            except Malformed as exc:
                raise DecodeError(f"undecodable payload ({exc})") from None
            if too_deep:
                raise self._decoded_too_deep()
        return value

    def _decoded_too_deep(self) -> DecodeError:
        return DecodeError(
            f"the payload is nested more than {self.max_depth} levels deep, over the limit "
            "(max_payload_depth, ASYNCTASQ_MAX_PAYLOAD_DEPTH of this process)"
        )

    def _unpack(self, data: bytes, ext_level: int, decoding: _Decoding) -> Any:
        ext_hook = functools.partial(self._ext, decoding, ext_level + 1)
        if ext_level < _STACK_CHEAP_LEVELS:
            return msgpack.unpackb(
                data, ext_hook=ext_hook, raw=False, strict_map_key=False, use_list=True
            )
        unpacker = msgpack.Unpacker(
            None,
            ext_hook=ext_hook,
            raw=False,
            strict_map_key=False,
            use_list=True,
            max_buffer_size=max(len(data), 1),
        )
        unpacker.feed(data)
        value = unpacker.unpack()
        if unpacker.tell() != len(data):
            raise DecodeError("undecodable payload (extra bytes after an extension value)")
        return value

    def _ext(self, decoding: _Decoding, ext_level: int, code: int, data: bytes) -> Any:
        if ext_level > decoding.limit:  # extension values alone go too deep
            raise self._decoded_too_deep()
        hook = _BIG if code == _BIG.code else self._table.by_code.get(code)
        if hook is None:
            raise DecodeError(f"unknown extension type {code}: is a hook missing in this worker?")
        outer_height, decoding.ext_height = decoding.ext_height, 0
        inner = self._unpack(data, ext_level, decoding)
        value = hook.decode(inner)
        if type(hook) is _SAME_ITEMS.get(type(value)) and type(inner) is list:
            # a tuple or set holding an array: measured like a list, where it sits
            decoding.ext_height = max(outer_height, decoding.ext_height)
            return value
        if hook.plain_depth is not None:
            # a datetime, a Decimal...: its decode() took a fixed shape apart, so
            # nothing deeper than that shape survives it
            decoding.ext_height = max(outer_height, hook.plain_depth)
            return value
        # any other extension: how deep its content goes (containers measured, deeper
        # extensions inside already added up), plus its own level unless an array or
        # map shares it; the deepest such extension bounds what measuring misses
        height = value_depth(inner, 0, decoding.limit, most=len(data)) + decoding.ext_height
        height += 0 if type(inner) in (list, dict) else 1
        decoding.ext_height = max(outer_height, height)
        return value


_packers = threading.local()


def _plain_packer() -> msgpack.Packer:
    """A Packer for plain values, one per thread (building one per call costs more than
    packing a small payload; one packer must not be shared by threads)."""
    try:
        return _packers.plain
    except AttributeError:
        packer = _packers.plain = msgpack.Packer(
            default=_big_int_only, strict_types=True, use_bin_type=True
        )
        return packer


def _big_int_only(obj: Any) -> msgpack.ExtType:
    """msgpack's ``default`` for values of plain scalars: only an int beyond 64 bits
    comes back to us."""
    if type(obj) is int:
        return msgpack.ExtType(_BIG.code, msgpack.packb(_BIG.encode(obj)))
    raise TypeError(f"cannot serialize {type(obj).__name__}")  # not reached: all plain


default_serializer = Serializer()
_by_limits: dict[tuple[int, int], Serializer] = {}


def serializer_for(config: Config) -> Serializer:
    """The default serializer (its hooks) with the limits of ``config``."""
    limits = (config.max_payload_depth, config.max_payload_size)
    if limits == (default_serializer.max_depth, default_serializer.max_size):
        return default_serializer
    found = _by_limits.get(limits)
    if found is None:
        found = _by_limits[limits] = default_serializer.with_limits(
            max_depth=limits[0], max_size=limits[1]
        )
    return found


def dumps(obj: Any) -> bytes:
    return default_serializer.dumps(obj)


def loads(data: bytes) -> Any:
    return default_serializer.loads(data)


def register_hook(hook: TypeHook) -> TypeHook:
    """Teach the default serializer a new type (use codes 64..127)."""
    default_serializer.register(hook)
    return hook

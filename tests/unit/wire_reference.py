"""A reference for the wire-format tests, written independently of the serializer's
own limits code: it packs without any limit (to forge what a hostile producer could
store) and measures depth by plain recursion over the decoded structure."""

from __future__ import annotations

from typing import Any

import msgpack

from asynctasq.serialization import Serializer, default_serializer

__all__ = ["reference_depth", "reference_pack"]


def reference_pack(value: Any, serializer: Serializer = default_serializer) -> bytes:
    """``value`` packed with the serializer's hooks and no limit at all."""

    def default(obj: Any) -> msgpack.ExtType:
        if type(obj) is int:
            return msgpack.ExtType(12, msgpack.packb(str(obj)))
        hook = serializer.hook_for(type(obj))
        if hook is None:
            raise TypeError(f"no hook for {type(obj)}")
        return msgpack.ExtType(hook.code, reference_pack(hook.encode(obj), serializer))

    return msgpack.packb(value, default=default, strict_types=True, use_bin_type=True)  # type: ignore[no-any-return]


class _Ext:
    """An extension value, reduced to how deep it goes."""

    def __init__(self, depth: int) -> None:
        self.depth = depth


def _depth(value: Any) -> int:
    if isinstance(value, _Ext):
        return value.depth
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((_depth(v) for kv in value.items() for v in kv), default=0)
    return 0


def _ext_hook(code: int, data: bytes) -> _Ext:
    inner = msgpack.unpackb(data, ext_hook=_ext_hook, raw=False, strict_map_key=False)
    # the documented rule: an extension is a level; an array or map right inside it
    # shares that level
    return _Ext(_depth(inner) if isinstance(inner, list | dict) else 1 + _depth(inner))


def reference_depth(data: bytes) -> int:
    """The nesting depth of ``data`` as docs/serialization.md defines it."""
    return _depth(msgpack.unpackb(data, ext_hook=_ext_hook, raw=False, strict_map_key=False))

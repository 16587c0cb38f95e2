"""How deep a payload nests, measured the same way on both sides of the wire.

One definition, used by the encoder (refuse at dispatch) and the decoder (refuse
before building anything): every msgpack array or map is one level, and every
extension value (a tuple, a set, a datetime, a model...) is one level; an extension
whose content is an array or a map shares its level with it, so a tuple counts once,
like a list. A flat ``{"a": 1}`` is 1 deep, ``[(1,), {2}]`` is 2 deep.

``wire_depth`` reads the bytes without recursion (an explicit stack) and without
building a value, so a forged record cannot exhaust the C stack or memory before it
is refused. ``value_depth`` measures a value before it is packed, for the same
reason on the encoding side (msgpack's packer recurses in C; so do extension hooks).
"""

from __future__ import annotations

from itertools import chain, compress, repeat
from operator import is_, not_
from typing import Any

import msgpack

# the limits live with the other bounds (checks.py), below the settings that name them
from asynctasq.checks import (
    DEFAULT_MAX_DEPTH,
    DEFAULT_MAX_SIZE,
    MAX_DEPTH_CEILING,
    MAX_SIZE_CEILING,
)
from asynctasq.errors import SerializationError

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_SIZE",
    "MAX_DEPTH_CEILING",
    "MAX_SIZE_CEILING",
    "NOT_EXT_OPENERS",
    "NOT_OPENERS",
    "Malformed",
    "may_hold_extensions",
    "opener_bound",
    "shallow_depth",
    "value_depth",
    "wire_depth",
]


class Malformed(ValueError):
    """The bytes are not one complete msgpack value."""


# -- reading the wire --------------------------------------------------------------

# What the first byte of a msgpack value says (see the msgpack spec, "formats"):
_SCALAR, _FIXSTR, _STR, _ARRAY, _MAP, _EXT, _FIXEXT, _BAD = range(8)
_KIND = [_BAD] * 256
_WIDTH = [0] * 256  # scalar: its whole size; str/array/map/ext: bytes of its length
for _b in range(0x00, 0x80):
    _KIND[_b], _WIDTH[_b] = _SCALAR, 1  # positive fixint
for _b in range(0xE0, 0x100):
    _KIND[_b], _WIDTH[_b] = _SCALAR, 1  # negative fixint
for _b in range(0x80, 0x90):
    _KIND[_b] = _MAP  # fixmap: the count is in the byte
for _b in range(0x90, 0xA0):
    _KIND[_b] = _ARRAY  # fixarray
for _b in range(0xA0, 0xC0):
    _KIND[_b] = _FIXSTR
for _b, _size in {0xC0: 1, 0xC2: 1, 0xC3: 1, 0xCA: 5, 0xCB: 9, 0xCC: 2, 0xCD: 3, 0xCE: 5,
                  0xCF: 9, 0xD0: 2, 0xD1: 3, 0xD2: 5, 0xD3: 9}.items():  # fmt: skip
    _KIND[_b], _WIDTH[_b] = _SCALAR, _size
for _b, _len in {0xC4: 1, 0xC5: 2, 0xC6: 4, 0xD9: 1, 0xDA: 2, 0xDB: 4}.items():
    _KIND[_b], _WIDTH[_b] = _STR, _len  # bin and str: length-prefixed bytes
for _b, _len in {0xC7: 1, 0xC8: 2, 0xC9: 4}.items():
    _KIND[_b], _WIDTH[_b] = _EXT, _len
for _b, _len in {0xD4: 1, 0xD5: 2, 0xD6: 4, 0xD7: 8, 0xD8: 16}.items():
    _KIND[_b], _WIDTH[_b] = _FIXEXT, _len  # the data size itself
for _b, _kind, _len in ((0xDC, _ARRAY, 2), (0xDD, _ARRAY, 4), (0xDE, _MAP, 2), (0xDF, _MAP, 4)):
    _KIND[_b], _WIDTH[_b] = _kind, _len

#: every byte but those that can open a level (translate() deletes these)
NOT_OPENERS = bytes(b for b in range(256) if _KIND[b] not in (_ARRAY, _MAP, _EXT, _FIXEXT))


#: every byte but those that can open an extension value (fixext and ext)
NOT_EXT_OPENERS = bytes(b for b in range(256) if _KIND[b] not in (_EXT, _FIXEXT))


def may_hold_extensions(data: bytes | bytearray | memoryview) -> bool:
    """False when ``data`` holds no extension value for sure (no byte that could open
    one): nothing in it was built by a hook, no model reference among others. At C
    speed; a byte inside a string may say True for nothing."""
    return len(bytes(data).translate(None, NOT_EXT_OPENERS)) > 0


def opener_bound(data: bytes) -> int:
    """A bound on the depth of ``data``, in one pass at C speed: each level needs an
    opening byte of its own, and few bytes can open one."""
    return len(data.translate(None, NOT_OPENERS))


def wire_depth(data: bytes, limit: int) -> int:
    """The nesting depth of the msgpack value in ``data``, or a number above
    ``limit`` as soon as the value is known to be deeper (the rest is not read).
    Raises ``Malformed`` when the bytes are not one complete value."""
    try:
        return _scan(data, limit)
    except IndexError:
        raise Malformed("truncated") from None


def _scan(data: bytes, limit: int) -> int:
    end_of_data = len(data)
    pos = deepest = 0
    # frames of open levels: [values left, where it must end (-1: anywhere),
    # level an array/map opens, level an extension opens]
    frames: list[list[int]] = [[1, end_of_data, 1, 1]]
    while frames:
        frame = frames[-1]
        if frame[0] == 0:
            if frame[1] >= 0 and pos != frame[1]:
                raise Malformed("an extension's length does not match its content")
            frames.pop()
            continue
        frame[0] -= 1
        first = data[pos]
        kind = _KIND[first]
        if kind == _SCALAR:
            pos += _WIDTH[first]
        elif kind == _FIXSTR:
            pos += 1 + (first & 0x1F)
        elif kind == _STR:
            width = _WIDTH[first]
            pos += 1 + width + int.from_bytes(data[pos + 1 : pos + 1 + width], "big")
        elif kind == _BAD:
            raise Malformed(f"byte 0x{first:02x} starts no msgpack value")
        else:  # a value that opens a level
            if kind in (_ARRAY, _MAP):
                width = _WIDTH[first]
                fixed = first & 0x0F  # fixarray, fixmap: the count is in the first byte
                count = int.from_bytes(data[pos + 1 : pos + 1 + width], "big") if width else fixed
                pos += 1 + width
                level = frame[2]
                count *= 2 if kind == _MAP else 1
                if count > end_of_data - pos:  # each value takes a byte at least
                    raise Malformed(f"a container claims {count} values")
                inner = [count, -1, level + 1, level + 1]
            else:  # an extension: its content is one value, and an array or map there
                # shares the extension's level
                if kind == _FIXEXT:
                    size, pos = _WIDTH[first], pos + 2
                else:
                    width = _WIDTH[first]
                    size = int.from_bytes(data[pos + 1 : pos + 1 + width], "big")
                    pos += 2 + width
                level = frame[3]
                if pos + size > end_of_data:
                    raise Malformed("an extension runs past the end")
                inner = [1, pos + size, level, level + 1]
            if level > deepest:
                deepest = level
                if deepest > limit:
                    return deepest
            frames.append(inner)
        if pos > end_of_data:
            raise Malformed("truncated")
    return deepest


# -- measuring values -------------------------------------------------------------------

#: never nested: packed by msgpack itself (an int beyond 64 bits becomes an extension
#: holding a string; the serializer checks the wire when that could matter)
_LEAVES = frozenset({str, bytes, bytearray, memoryview, int, float, bool, type(None)})
#: arrays, and the built-in extensions holding an array (which shares the
#: extension's level): each is one level, measured by its items; and maps
_SEQUENCES = frozenset({list, tuple, set, frozenset})
#: fewer objects than this are looked at one by one: setting up C loops (map,
#: compress, chain) costs more than the Python loop they would replace
_FEW = 8
#: from this many items, first ask at C speed whether they are all leaves
_MANY = 64
_PLAIN = frozenset({list, dict})  # msgpack's own arrays and maps: never a hook's
_RAW = frozenset({msgpack.ExtType, msgpack.Timestamp})


def shallow_depth(value: Any) -> int | None:
    """The exact depth of the common shapes, measured at C speed: 0 for a plain scalar,
    1 for a map or list of them, 2 for a map whose values are those (a job's envelope
    of flat arguments). None for anything else, or anything holding a value that a
    hook packs (those need ``value_depth``, which also places them)."""
    kind = type(value)
    if kind in _LEAVES:
        return 0
    if kind is list:
        return 1 if _LEAVES.issuperset(map(type, value)) else None
    if kind is not dict or not _LEAVES.issuperset(map(type, value)):  # keys too
        return None
    depth = 1
    for item in value.values():
        inner = type(item)
        if inner in _LEAVES:
            continue
        if inner is dict:
            if not (
                _LEAVES.issuperset(map(type, item)) and _LEAVES.issuperset(map(type, item.values()))
            ):
                return None
        elif inner is not list or not _LEAVES.issuperset(map(type, item)):
            return None
        depth = 2
    return depth


def _not_leaves(items: list[Any]) -> list[Any]:
    """The items that may nest further."""
    if len(items) >= _MANY and _LEAVES.issuperset(map(type, items)):  # C speed, and common
        return []
    return [item for item in items if type(item) not in _LEAVES]


def value_depth(
    value: Any,
    start: int,
    limit: int,
    positions: dict[int, int] | None = None,
    most: int | None = None,
) -> int:
    """How deep ``value`` nests when its first level is ``start`` + 1, or a number
    above ``limit`` once it is known to be deeper, or once more than ``most``
    containers were looked at.

    Level by level, without recursion; a wide level in bulk, its objects sorted and
    their items gathered by C loops (compress, chain), so that a list of a thousand
    records costs a few Python steps, not thousands.

    Encoding passes ``positions``: values packed through a hook (tuples, sets,
    datetimes, models...) are extensions, one level each; their position is recorded
    by id, so that when msgpack asks for their encoding the serializer knows how many
    levels remain for it. Decoding passes none: a value a hook built counts by what
    it holds if it is a container, else as a leaf (the decoder adds the depth of
    extension content separately)."""
    deepest, level, current, seen = start, start, _not_leaves([value]), 0
    budget = -1 if most is None else most
    while current:
        if len(current) < _FEW:
            containers, following = _few(current, level, positions)
        else:
            containers, following = _many(current, level, positions)
        if containers or (positions is not None):  # encoding: every one here is a level
            deepest = level + 1
        seen += containers
        if deepest > limit or (budget >= 0 and seen > budget):
            return limit + 1
        level, current = level + 1, following
    return deepest


def _few(objects: list[Any], level: int, positions: dict[int, int] | None) -> tuple[int, list[Any]]:
    """(how many are containers, their items that may nest further), one by one."""
    containers, items = 0, []
    for obj in objects:
        kind = type(obj)
        if kind is dict:
            containers += 1
            items += [*obj, *obj.values()]
            continue
        if positions is not None:
            if kind in _RAW:
                raise _raw_refused()
            positions[id(obj)] = level  # levels come in order: the deepest place wins
        if kind in _SEQUENCES:
            containers += 1
            items += obj
    return containers, _not_leaves(items)


def _many(
    objects: list[Any], level: int, positions: dict[int, int] | None
) -> tuple[int, list[Any]]:
    """The same as _few, in bulk."""
    kinds = list(map(type, objects))
    sequences = list(compress(objects, map(_SEQUENCES.__contains__, kinds)))
    maps = list(compress(objects, map(is_, kinds, repeat(dict))))
    if positions is not None:
        if not _RAW.isdisjoint(kinds):
            raise _raw_refused()
        hooked = compress(objects, map(not_, map(_PLAIN.__contains__, kinds)))
        positions.update(zip(map(id, hooked), repeat(level)))
    items = list(chain.from_iterable(sequences))
    items += chain.from_iterable(map(dict.values, maps))
    keys = list(chain.from_iterable(maps))
    if not _LEAVES.issuperset(map(type, keys)):  # keys are nearly always strings
        items += keys
    return len(sequences) + len(maps), _not_leaves(items)


def _raw_refused() -> SerializationError:
    return SerializationError(
        "cannot send a raw msgpack.ExtType or msgpack.Timestamp: the worker would not "
        "know how to read it; register a TypeHook for your type instead"
    )

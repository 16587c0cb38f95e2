"""msgpack with extension types: the only format a job's arguments travel in.

Pickle never goes to the broker: decoding a payload can only build plain data and
the types of registered hooks.
"""

from __future__ import annotations

from typing import Any

import msgpack

from asynctasq.serialization.hooks import BUILTIN_HOOKS, BigIntHook, TypeHook

__all__ = [
    "DecodeError",
    "SerializationError",
    "Serializer",
    "default_hooks",
    "default_serializer",
    "dumps",
    "loads",
    "register_hook",
]

_BIG = BigIntHook()


class SerializationError(TypeError):
    """A value has no msgpack form."""


class DecodeError(ValueError):
    """Bytes that are not a payload this worker can decode."""


def default_hooks() -> tuple[TypeHook, ...]:
    """The built-in value hooks, then the ORM reference hooks (they import no ORM)."""
    from asynctasq.serialization.orm.references import ORM_HOOKS  # needs SerializationError

    return (*BUILTIN_HOOKS, *ORM_HOOKS)


class Serializer:
    def __init__(self, hooks: tuple[TypeHook, ...] | None = None) -> None:
        self._by_code: dict[int, TypeHook] = {}
        self._hooks: list[TypeHook] = []
        self._by_type: dict[type, TypeHook | None] = {}
        for hook in default_hooks() if hooks is None else hooks:
            self.register(hook)

    def register(self, hook: TypeHook) -> None:
        """Add a hook; a later hook for the same type wins over an earlier one."""
        if not 0 <= hook.code <= 127:
            raise ValueError(f"hook code {hook.code} is outside msgpack's 0..127")
        existing = self._by_code.get(hook.code)
        if existing is not None and type(existing) is not type(hook):
            raise ValueError(
                f"extension code {hook.code} is taken by {type(existing).__name__}; "
                "use a free code in 64..127 for your own hooks"
            )
        self._by_code[hook.code] = hook
        self._hooks = [h for h in self._hooks if h.code != hook.code]
        self._hooks.insert(0, hook)
        self._by_type.clear()

    def hook_for(self, cls: type) -> TypeHook | None:
        try:
            return self._by_type[cls]
        except KeyError:
            pass
        found = None
        for klass in cls.__mro__:  # the most specific registered type wins
            found = next((h for h in self._hooks if klass in h.types), None)
            if found is not None:
                break
        if found is None:
            found = next((h for h in self._hooks if h.claims(cls)), None)
        self._by_type[cls] = found
        return found

    def _default(self, obj: Any) -> msgpack.ExtType:
        if type(obj) is int:  # beyond 64 bits: msgpack hands it back to us
            return msgpack.ExtType(_BIG.code, self.dumps(_BIG.encode(obj)))
        hook = self.hook_for(type(obj))
        if hook is None:
            raise SerializationError(
                f"cannot send a {type(obj).__module__}.{type(obj).__qualname__} to a task: pass "
                "plain values, or register a TypeHook for it (see docs/serialization.md)"
            )
        return msgpack.ExtType(hook.code, self.dumps(hook.encode(obj)))

    def _ext(self, code: int, data: bytes) -> Any:
        hook = _BIG if code == _BIG.code else self._by_code.get(code)
        if hook is None:
            raise DecodeError(f"unknown extension type {code}: is a hook missing in this worker?")
        return hook.decode(self._loads(data))

    def dumps(self, obj: Any) -> bytes:
        try:
            return msgpack.packb(obj, default=self._default, strict_types=True, use_bin_type=True)  # type: ignore[no-any-return]
        except SerializationError:
            raise
        except (TypeError, ValueError, OverflowError) as exc:
            raise SerializationError(f"cannot serialize {type(obj).__name__}: {exc}") from exc

    def _loads(self, data: bytes) -> Any:
        return msgpack.unpackb(
            data, ext_hook=self._ext, raw=False, strict_map_key=False, use_list=True
        )

    def loads(self, data: bytes) -> Any:
        """Decode a payload; anything wrong with the bytes raises DecodeError."""
        try:
            return self._loads(data)
        except DecodeError:
            raise
        except Exception as exc:  # msgpack raises many types on garbage input
            raise DecodeError(f"undecodable payload ({type(exc).__name__}: {exc})") from exc


default_serializer = Serializer()


def dumps(obj: Any) -> bytes:
    return default_serializer.dumps(obj)


def loads(data: bytes) -> Any:
    return default_serializer.loads(data)


def register_hook(hook: TypeHook) -> TypeHook:
    """Teach the default serializer a new type (use codes 64..127)."""
    default_serializer.register(hook)
    return hook

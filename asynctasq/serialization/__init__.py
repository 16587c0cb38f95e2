"""Arguments and results as msgpack, with hooks for richer types."""

from asynctasq.serialization.hooks import TypeHook
from asynctasq.serialization.msgpack import (
    DecodeError,
    SerializationError,
    Serializer,
    default_serializer,
    dumps,
    loads,
    register_hook,
)

__all__ = [
    "DecodeError",
    "SerializationError",
    "Serializer",
    "TypeHook",
    "default_serializer",
    "dumps",
    "loads",
    "register_hook",
]

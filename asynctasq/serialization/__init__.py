"""Arguments and results as msgpack, with hooks for richer types."""

from asynctasq.serialization.hooks import TypeHook
from asynctasq.serialization.msgpack import (
    DecodeError,
    PayloadLimitError,
    SerializationError,
    Serializer,
    default_serializer,
    dumps,
    loads,
    register_hook,
    serializer_for,
)

__all__ = [
    "DecodeError",
    "PayloadLimitError",
    "SerializationError",
    "Serializer",
    "TypeHook",
    "default_serializer",
    "dumps",
    "loads",
    "register_hook",
    "serializer_for",
]

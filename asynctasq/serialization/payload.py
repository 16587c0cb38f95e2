"""A job's payload: its arguments plus the per-job options no driver column holds.

The envelope ``{"args": {...}, "options": {...}}`` takes two levels of nesting; they
do not count against the depth limit, which applies to the arguments' own values.
"""

from __future__ import annotations

from typing import Any

from asynctasq.errors import UndecodablePayloadError
from asynctasq.serialization.msgpack import DecodeError, Serializer, default_serializer

__all__ = ["ENVELOPE_LEVELS", "decode_payload", "encode_payload"]

#: the envelope map and the arguments map
ENVELOPE_LEVELS = 2
_TEXT = frozenset({str})


def encode_payload(
    args: dict[str, Any],
    options: dict[str, Any] | None = None,
    serializer: Serializer | None = None,
) -> bytes:
    """The payload bytes; SerializationError (PayloadLimitError: too deep, too big)
    when the arguments cannot travel."""
    envelope: dict[str, Any] = {"args": args}
    if options:
        envelope["options"] = options
    return (serializer or default_serializer).dumps(envelope, outer_levels=ENVELOPE_LEVELS)


def decode_payload(
    data: bytes, serializer: Serializer | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(arguments, options). A payload that is not ours raises UndecodablePayloadError:
    a PoisonJobError (the worker dead-letters the job) and a DecodeError."""
    try:
        envelope = (serializer or default_serializer).loads(data, outer_levels=ENVELOPE_LEVELS)
    except DecodeError as exc:
        raise UndecodablePayloadError(str(exc)) from exc
    except Exception as exc:  # never expected: loads wraps what it meets; a last guard
        raise UndecodablePayloadError(f"undecodable payload: {type(exc).__name__}: {exc}") from exc
    if not isinstance(envelope, dict) or not isinstance(envelope.get("args"), dict):
        raise UndecodablePayloadError("undecodable payload: not an asynctasq job envelope")
    args, options = envelope["args"], envelope.get("options") or {}
    # at C speed: decoding builds exact str keys only (raw=False), never a subclass
    if not _TEXT.issuperset(map(type, args)) or not isinstance(options, dict):
        raise UndecodablePayloadError("undecodable payload: argument names must be strings")
    return args, options

"""A job's payload: its arguments plus the per-job options no driver column holds."""

from __future__ import annotations

from typing import Any

from asynctasq.errors import PoisonJobError
from asynctasq.serialization.msgpack import DecodeError, Serializer, default_serializer

__all__ = ["decode_payload", "encode_payload"]


def encode_payload(
    args: dict[str, Any],
    options: dict[str, Any] | None = None,
    serializer: Serializer | None = None,
) -> bytes:
    envelope: dict[str, Any] = {"args": args}
    if options:
        envelope["options"] = options
    return (serializer or default_serializer).dumps(envelope)


def decode_payload(
    data: bytes, serializer: Serializer | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(arguments, options); a payload that is not ours raises PoisonJobError."""
    try:
        envelope = (serializer or default_serializer).loads(data)
    except DecodeError as exc:
        raise PoisonJobError(str(exc)) from exc
    except Exception as exc:  # a hook's decode failed on forged data
        raise PoisonJobError(f"undecodable payload: {type(exc).__name__}: {exc}") from exc
    if not isinstance(envelope, dict) or not isinstance(envelope.get("args"), dict):
        raise PoisonJobError("undecodable payload: not an asynctasq job envelope")
    args, options = envelope["args"], envelope.get("options") or {}
    if not all(isinstance(k, str) for k in args) or not isinstance(options, dict):
        raise PoisonJobError("undecodable payload: argument names must be strings")
    return args, options

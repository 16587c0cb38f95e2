"""The wire format of events, shared by the emitters and the subscriber.

One Pub/Sub message (or NOTIFY payload) carries an *array* of events, so a busy
worker sends one message per batch instead of one per event:

* Redis: a msgpack array of maps;
* PostgreSQL: a JSON array of objects (NOTIFY payloads are text, under 8000 bytes).

Each map holds the fields of :class:`Event` that are set (``event_type``, ``at``,
``task_id``...). Readers ignore keys they do not know, so fields can be added.
Texts that leave the process are scrubbed of URL passwords.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from typing import Any

import msgpack

from asynctasq.core.events.types import Event

__all__ = [
    "MAX_NOTIFY_BYTES",
    "decode_message",
    "json_messages",
    "msgpack_messages",
    "scrub",
]

#: PostgreSQL refuses NOTIFY payloads of 8000 bytes or more
MAX_NOTIFY_BYTES = 7900
#: bounds one Redis message (about 40 kB of typical events)
EVENTS_PER_MESSAGE = 256
_MAX_TEXT = 2000

# a password inside any URL of a free text: scheme://user:password@host
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s/]+@")


def scrub(text: str) -> str:
    """Hide URL passwords in an error message or traceback."""
    return _URL_PASSWORD.sub(r"\1***@", text) if "://" in text else text


def _fields(event: Event) -> dict[str, Any]:
    fields = event.to_dict()
    if "queues" in fields:
        fields["queues"] = list(fields["queues"])
    for key in ("error", "traceback"):
        if key in fields:
            fields[key] = scrub(fields[key])[-_MAX_TEXT:]
    return fields


def msgpack_messages(events: Sequence[Event]) -> Iterator[bytes]:
    """Redis messages: msgpack arrays of at most EVENTS_PER_MESSAGE events."""
    for start in range(0, len(events), EVENTS_PER_MESSAGE):
        chunk = [_fields(e) for e in events[start : start + EVENTS_PER_MESSAGE]]
        yield msgpack.packb(chunk, use_bin_type=True, default=str)


def json_messages(events: Sequence[Event], limit: int = MAX_NOTIFY_BYTES) -> Iterator[str]:
    """NOTIFY payloads: JSON arrays, each under ``limit`` bytes."""
    batch: list[str] = []
    size = 2  # the brackets
    for event in events:
        item = _json_within(_fields(event), limit - 2)
        extra = len(item.encode()) + (1 if batch else 0)
        if batch and size + extra > limit:
            yield "[" + ",".join(batch) + "]"
            batch, size = [], 2
            extra = len(item.encode())
        batch.append(item)
        size += extra
    if batch:
        yield "[" + ",".join(batch) + "]"


def _json_within(fields: dict[str, Any], limit: int) -> str:
    """One event as JSON, shortened (traceback, then meta, then error) to fit."""
    text = json.dumps(fields, separators=(",", ":"), default=str)
    for key in ("traceback", "meta", "error"):
        if len(text.encode()) <= limit:
            break
        if key == "error" and key in fields:
            fields[key] = fields[key][:200] + " [truncated]"
        else:
            fields.pop(key, None)
        text = json.dumps(fields, separators=(",", ":"), default=str)
    return text


def decode_message(data: bytes | str) -> list[Event]:
    """The events in one message (msgpack or JSON; an array or a single event).
    Raises ValueError when the message is not asynctasq events."""
    try:
        if isinstance(data, str) or data[:1] in (b"[", b"{"):
            decoded = json.loads(data)
        else:
            decoded = msgpack.unpackb(data, raw=False)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise ValueError(f"undecodable event message: {exc}") from None
    items = decoded if isinstance(decoded, list) else [decoded]
    events = []
    for item in items:
        if not isinstance(item, dict):
            raise ValueError(f"an event is a map, got {type(item).__name__}")
        try:
            events.append(Event.from_dict(item))
        except TypeError as exc:
            raise ValueError(f"malformed event: {exc}") from None
    return events

"""The wire format of events, shared by the emitters and the subscriber.

One Pub/Sub message (or NOTIFY payload) carries a *table* of events, so a busy
worker sends one message per batch, and each field name travels once per message:

    {"fields": ["event_type", "at", "task_id", ...], "events": [[...], [...]]}

Each row lists the values of ``fields`` in order (null when unset). Redis messages
are msgpack; PostgreSQL payloads are JSON text under 8000 bytes (NOTIFY's limit).
Readers match values to names, so fields can be added without breaking them; the
decoder also takes a single event map, or an array of maps, from other publishers.
Error texts are scrubbed of secrets (asynctasq.redaction) as they leave the process,
and again as they arrive from another.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import msgpack

from asynctasq.config import redact_secrets
from asynctasq.core.events.types import EVENT_TYPES, FIELDS, Event

__all__ = [
    "FIELDS",
    "MAX_NOTIFY_BYTES",
    "decode_message",
    "json_messages",
    "msgpack_messages",
    "scrub",
]

#: PostgreSQL refuses NOTIFY payloads of 8000 bytes or more
MAX_NOTIFY_BYTES = 7900
#: bounds one Redis message (about 30 kB of typical events)
EVENTS_PER_MESSAGE = 256
_MAX_TEXT = 2000

_ERROR, _TRACEBACK = FIELDS.index("error"), FIELDS.index("traceback")
scrub = redact_secrets


def _rows(events: Sequence[Event]) -> list[Sequence[Any]]:
    """The events as rows (an event is a tuple already); error texts scrubbed."""
    rows: list[Sequence[Any]] = list(events)
    for i in [i for i, row in enumerate(rows) if row[_ERROR] is not None]:
        values = list(rows[i])
        values[_ERROR] = scrub(values[_ERROR])[:_MAX_TEXT]  # "Type: message": the head matters
        if values[_TRACEBACK] is not None:  # the last frames matter
            values[_TRACEBACK] = scrub(values[_TRACEBACK])[-_MAX_TEXT:]
        rows[i] = values
    return rows


def msgpack_messages(events: Sequence[Event]) -> Iterator[bytes]:
    """Redis messages of at most EVENTS_PER_MESSAGE events each."""
    for start in range(0, len(events), EVENTS_PER_MESSAGE):
        rows = _rows(events[start : start + EVENTS_PER_MESSAGE])
        yield msgpack.packb({"fields": FIELDS, "events": rows}, use_bin_type=True, default=str)


def json_messages(events: Sequence[Event], limit: int = MAX_NOTIFY_BYTES) -> Iterator[str]:
    """NOTIFY payloads, each under ``limit`` bytes."""
    head = '{"fields":' + json.dumps(FIELDS, separators=(",", ":")) + ',"events":['
    room = limit - len(head) - 2  # the closing brackets
    rows: list[str] = []
    size = 0
    for values in _rows(events):
        row = _json_row(values, room)
        extra = len(row.encode()) + (1 if rows else 0)
        if rows and size + extra > room:
            yield head + ",".join(rows) + "]}"
            rows, size, extra = [], 0, extra - 1
        rows.append(row)
        size += extra
    if rows:
        yield head + ",".join(rows) + "]}"


def _json_row(values: Sequence[Any], limit: int) -> str:
    """One row as JSON, shortened (meta, then traceback, then error) to fit."""
    text = json.dumps(values, separators=(",", ":"), default=str)
    if len(text.encode()) <= limit:
        return text
    shorter = list(values)
    for name in ("meta", "traceback", "error"):
        i = FIELDS.index(name)
        if shorter[i] is not None:
            shorter[i] = shorter[i][:200] + " [truncated]" if name == "error" else None
        text = json.dumps(shorter, separators=(",", ":"), default=str)
        if len(text.encode()) <= limit:
            break
    return text


def decode_message(data: bytes | str) -> list[Event]:
    """The events of one message. Raises ValueError when it is not asynctasq events."""
    try:
        if isinstance(data, str) or data[:1] in (b"[", b"{"):
            decoded = json.loads(data)
        else:
            decoded = msgpack.unpackb(data, raw=False)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise ValueError(f"undecodable event message: {exc}") from None
    try:
        if isinstance(decoded, dict) and "fields" in decoded:
            names, rows = decoded["fields"], decoded["events"]
            if tuple(names) == FIELDS:  # a sender of this version: no renaming needed
                return _scrubbed([_from_row(row) for row in rows])
            return _scrubbed([Event.from_dict(dict(zip(names, row, strict=False))) for row in rows])
        items = decoded if isinstance(decoded, list) else [decoded]
        return _scrubbed([Event.from_dict(item) for item in items])
    except (TypeError, AttributeError, KeyError) as exc:
        raise ValueError(f"malformed event message: {exc!r}") from None


def _scrubbed(events: list[Event]) -> list[Event]:
    """Error texts scrubbed on the way in too: a sender of an older version (or another
    publisher) may not have."""
    return [
        event._replace(
            error=scrub(event.error) if isinstance(event.error, str) else event.error,
            traceback=scrub(event.traceback)
            if isinstance(event.traceback, str)
            else event.traceback,
        )
        if event.error is not None or event.traceback is not None
        else event
        for event in events
    ]


_QUEUES = FIELDS.index("queues")


def _from_row(row: list[Any]) -> Event:
    if len(row) != len(FIELDS) or row[0] not in EVENT_TYPES:
        raise ValueError(f"malformed event row: {row[:2]!r}...")
    if row[_QUEUES] is not None:
        row[_QUEUES] = tuple(row[_QUEUES])
    return Event._make(row)

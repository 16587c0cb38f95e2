"""The event wire format, emitter configuration and the buffering rules, without a
network: a recording sink stands in for Redis and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import threading

import msgpack
import pytest

from asynctasq.config import Config
from asynctasq.core.events import (
    CompositeEmitter,
    Event,
    LoggingEmitter,
    NullEmitter,
    create_event_emitter,
)
from asynctasq.core.events.buffered import BufferedEmitter
from asynctasq.core.events.postgres import PostgresEventEmitter
from asynctasq.core.events.redis import RedisEventEmitter
from asynctasq.core.events.wire import (
    MAX_NOTIFY_BYTES,
    decode_message,
    json_messages,
    msgpack_messages,
    scrub,
)


def full_event(**changes: object) -> Event:
    fields: dict[str, object] = {
        "task_id": "01J0000000000000000000000",
        "task": "app.Send",
        "queue": "emails",
        "worker_id": "host:1:abc",
        "attempt": 2,
        "max_attempts": 3,
        "duration_ms": 12.5,
        "error": "ValueError: bad",
        "traceback": "Traceback ...",
        "progress": 0.5,
        "meta": {"rows": 5},
        "run_at": 1700000000.5,
        "host": "host",
        "pid": 42,
        "queues": ("emails", "default"),
        "concurrency": 10,
        "active": 3,
    }
    fields.update(changes)
    return Event("task_failed", **fields)  # type: ignore[arg-type]


class Recording(BufferedEmitter):
    """A sink that keeps what it is sent."""

    def __init__(self, **options: object) -> None:
        super().__init__(**options)  # type: ignore[arg-type]
        self.batches: list[list[Event]] = []
        self.opened = 0

    async def _open(self) -> None:
        self.opened += 1

    async def _send(self, batch: list[Event]) -> None:
        self.batches.append(batch)

    async def _close_sink(self) -> None:
        pass

    def _forget(self) -> None:
        pass

    def received(self) -> list[Event]:
        return [e for batch in self.batches for e in batch]


def test_msgpack_messages_round_trip_every_field() -> None:
    events = [full_event(), Event("worker_online", worker_id="w", queues=("a",))]
    (message,) = list(msgpack_messages(events))
    assert decode_message(message) == events


def test_a_message_is_a_table_with_the_field_names_once() -> None:
    (message,) = list(msgpack_messages([Event("task_started", task_id="1")] * 3))
    table = msgpack.unpackb(message)
    assert table["fields"][:3] == ["event_type", "at", "task_id"]
    assert [row[2] for row in table["events"]] == ["1", "1", "1"]


def test_large_batches_are_split_into_several_messages() -> None:
    events = [Event("task_started", task_id=str(i)) for i in range(600)]
    messages = list(msgpack_messages(events))
    assert len(messages) == 3
    assert [e.task_id for m in messages for e in decode_message(m)] == [str(i) for i in range(600)]


def test_notify_payloads_stay_under_the_postgres_limit() -> None:
    huge = full_event(traceback="x" * 20_000, error="E: " + "y" * 20_000, meta={"k": "z" * 9000})
    events = [full_event(task_id=str(i)) for i in range(100)] + [huge]
    payloads = list(json_messages(events))
    assert len(payloads) > 1
    assert all(len(p.encode()) <= MAX_NOTIFY_BYTES for p in payloads)
    decoded = [e for p in payloads for e in decode_message(p)]
    assert [e.task_id for e in decoded[:100]] == [str(i) for i in range(100)]
    last = decoded[-1]
    assert last.meta is None  # user data goes first
    assert last.error is not None and last.error.startswith("E: y") and len(last.error) <= 2000
    assert last.traceback is not None and set(last.traceback) == {"x"}


def test_a_row_too_large_for_notify_is_shortened() -> None:
    (payload,) = json_messages([full_event(meta={"k": "z" * 9000})], limit=1000)
    (event,) = decode_message(payload)
    assert event.meta is None and event.error == "ValueError: bad"


def test_passwords_in_urls_never_leave_the_process() -> None:
    text = "cannot reach postgresql://app:hunter2@db/x; see http://docs:80/a and me@example.com"
    assert scrub(text) == (
        "cannot reach postgresql://app:***@db/x; see http://docs:80/a and me@example.com"
    )
    event = full_event(error=f"E: {text}", traceback=f"at redis://:pw@h\n{text}")
    for message in [*msgpack_messages([event]), *json_messages([event])]:
        raw = message if isinstance(message, bytes) else message.encode()
        assert b"hunter2" not in raw and b":pw@" not in raw


def test_other_publishers_may_send_plain_maps() -> None:
    single = json.dumps({"event_type": "task_completed", "at": 2.0, "task_id": "7", "new": 1})
    assert decode_message(single) == [Event("task_completed", at=2.0, task_id="7")]
    several = msgpack.packb([{"event_type": "worker_offline", "at": 1.0, "queues": ["a"]}])
    assert decode_message(several) == [Event("worker_offline", at=1.0, queues=("a",))]


def test_a_newer_sender_with_more_fields_is_understood() -> None:
    table = {
        "fields": ["event_type", "at", "task_id", "shiny"],
        "events": [["task_started", 1.0, "9", 5]],
    }
    assert decode_message(msgpack.packb(table)) == [Event("task_started", at=1.0, task_id="9")]


@pytest.mark.parametrize(
    "message",
    [b"\xc1\x00garbage", b"[1, 2", b'{"event_type": "task_exploded"}', b"[[1, 2]]", b"42"],
)
def test_foreign_messages_raise_value_error(message: bytes) -> None:
    with pytest.raises(ValueError):
        decode_message(message)


def test_no_settings_no_emitter() -> None:
    emitter = create_event_emitter(Config())
    assert isinstance(emitter, NullEmitter) and not emitter.enabled


def test_the_settings_choose_the_emitters() -> None:
    redis_only = create_event_emitter(Config(events_redis_url="redis://:pw@r:6379/1"))
    assert isinstance(redis_only, RedisEventEmitter)
    assert redis_only.channel == "asynctasq:events" and "pw" not in repr(redis_only)
    every = create_event_emitter(
        Config.from_env(
            {
                "ASYNCTASQ_EVENTS_REDIS_URL": "redis://r:6379/0",
                "ASYNCTASQ_EVENTS_POSTGRES_DSN": "postgresql://u:secret@pg/db",
                "ASYNCTASQ_EVENTS_LOG": "true",
                "ASYNCTASQ_EVENTS_CHANNEL": "ops",
            },
            env_file=None,
        )
    )
    assert isinstance(every, CompositeEmitter)
    kinds = [type(e) for e in every.emitters]
    assert kinds == [RedisEventEmitter, PostgresEventEmitter, LoggingEmitter]
    assert all(getattr(e, "channel", "ops") == "ops" for e in every.emitters)
    assert "secret" not in repr(every.emitters[1])


def test_config_hides_the_events_dsn_password() -> None:
    config = Config(events_postgres_dsn="postgresql://u:secret@pg/db")
    assert "secret" not in repr(config)


def test_bad_urls_are_refused_with_what_to_do() -> None:
    with pytest.raises(ValueError, match="redis://"):
        RedisEventEmitter("localhost:6379")
    with pytest.raises(ValueError, match="postgresql://"):
        PostgresEventEmitter("host=pg user=u password=secret")
    with pytest.raises(ValueError, match="63 bytes"):
        PostgresEventEmitter("postgresql://pg/db", channel="c" * 64)


async def test_events_are_sent_in_order_in_batches() -> None:
    sink = Recording(linger=0.01)
    for i in range(2500):
        sink.emit(Event("task_started", task_id=str(i)))
    assert await sink.flush(5)
    assert [e.task_id for e in sink.received()] == [str(i) for i in range(2500)]
    assert len(sink.batches) == 3 and sink.sent == 2500 and sink.dropped == 0
    await sink.close()


async def test_emit_from_another_thread_reaches_the_sink() -> None:
    sink = Recording()
    sink.emit(Event("worker_online"))  # binds the sender to this loop
    thread = threading.Thread(target=lambda: sink.emit(Event("worker_offline")))
    thread.start()
    thread.join()
    assert await sink.flush(5)
    assert [e.event_type for e in sink.received()] == ["worker_online", "worker_offline"]
    await sink.close()


def test_one_emitter_serves_successive_event_loops() -> None:
    """asyncio.run twice (a script, then tests): each loop gets its own sender,
    and what is emitted just before a loop ends still goes out."""
    sink = Recording()

    async def first() -> None:
        sink.emit(Event("task_enqueued", task_id="1"))
        await sink.flush(5)
        sink.emit(Event("task_enqueued", task_id="2"))  # no close(): the loop ends now

    async def second() -> None:
        sink.emit(Event("task_enqueued", task_id="3"))
        await sink.close()

    asyncio.run(first())
    asyncio.run(second())
    assert [e.task_id for e in sink.received()] == ["1", "2", "3"]
    assert sink.opened == 2 and sink.dropped == 0

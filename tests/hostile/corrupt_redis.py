"""Corruptions a Redis job record can suffer: a hash field holds any bytes, and the sets
that index the records (ready, scheduled, active...) can lose or keep members.

``DAMAGES`` rewrite one record's bytes (the driver tests use them one by one); the
harness' ``CORRUPTIONS`` are those plus damage to the sets around a record. Each
names the fragment its dead-letter reason must contain: the reason names the fault.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack

from asynctasq.drivers.keys import QUEUE_KEYS
from asynctasq.drivers.redis.codec import run_key
from asynctasq.jobs import Job
from tests.backend_base import Backend
from tests.hostile.corruption import Corruption

__all__ = ["CORRUPTIONS", "DAMAGES", "Damage", "key_of", "split_record"]


def split_record(record: bytes) -> tuple[list[Any], bytes]:
    """(meta, the data part's bytes) of a sound record."""
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(record)
    meta = unpacker.unpack()
    return meta, record[unpacker.tell() :]


def _meta(change: Callable[[list[Any]], Any]) -> Callable[[bytes], bytes]:
    def mangle(record: bytes) -> bytes:
        meta, data = split_record(record)
        changed = change(meta)
        return msgpack.packb(meta if changed is None else changed, use_bin_type=False) + data

    return mangle


def _field(index: int, value: Any) -> Callable[[bytes], bytes]:
    return _meta(lambda m: m.__setitem__(index, value))


def _data(change: Callable[[list[Any]], Any]) -> Callable[[bytes], bytes]:
    def mangle(record: bytes) -> bytes:
        _, data = split_record(record)
        fields = msgpack.unpackb(data, raw=False)
        changed = change(fields)
        packed = msgpack.packb(fields if changed is None else changed, use_bin_type=True)
        return record[: len(record) - len(data)] + packed

    return mangle


def _data_bytes(raw: bytes) -> Callable[[bytes], bytes]:
    """The data part replaced by ``raw``."""

    def mangle(record: bytes) -> bytes:
        _, data = split_record(record)
        return record[: len(record) - len(data)] + raw

    return mangle


def _nested_field(record: bytes) -> bytes:
    """meta whose unique_key is 100,000 arrays deep (a stack bomb for a decoder)."""
    meta, data = split_record(record)
    fields = [msgpack.packb(v, use_bin_type=False) for v in meta]
    fields[7] = b"\x91" * 100_000 + b"\xc0"
    return b"\x9a" + b"".join(fields) + data


def _task_bytes(raw: bytes) -> Callable[[bytes], bytes]:
    """The task name replaced by ``raw`` in a str header (invalid UTF-8 allowed)."""

    def mangle(record: bytes) -> bytes:
        _, data = split_record(record)
        head = record[: len(record) - len(data)]
        fields = msgpack.unpackb(data, raw=False)
        rest = b"".join(msgpack.packb(v, use_bin_type=True) for v in fields[1:])
        return head + b"\x95" + b"\xd9" + bytes([len(raw)]) + raw + rest

    return mangle


@dataclass(frozen=True)
class Damage:
    name: str
    #: the record's new bytes from its old ones
    mangle: Callable[[bytes], bytes]
    #: a fragment of the reason it is dead-lettered with
    reason: str
    #: only Python can see it (the data part): a claim serves it, the driver buries it
    python_only: bool = False


DAMAGES = [
    # the whole record
    Damage("garbage bytes", lambda r: b"\xc1\xff\x00garbage", "meta is not a msgpack array"),
    Damage("NUL bytes", lambda r: b"\x00" * 64, "meta is not a msgpack array"),
    Damage("empty record", lambda r: b"", "the record is empty"),
    Damage("truncated meta", lambda r: r[:7], "meta is truncated or not valid msgpack"),
    # meta's shape
    Damage("meta is a map", _meta(lambda m: dict(enumerate(m))), "meta is not a msgpack array"),
    Damage("meta misses fields", _meta(lambda m: m[:4]), "meta has 4 fields"),
    Damage("meta nested 100,000 deep", _nested_field, "not valid msgpack"),
    # meta's fields
    Damage("unknown state", _field(0, "zombie"), "field state is"),
    Damage("NUL byte in the state", _field(0, "pend\x00ing"), "not a known state"),
    Damage("1 MB state", _field(0, "p" * 1_000_000), "not a known state"),
    Damage("attempts is a string", _field(1, "1"), "field attempts"),
    Damage("max_attempts is huge", _field(2, 2**40), "field max_attempts"),
    Damage("priority is NaN", _field(3, float("nan")), "field priority"),
    Damage("run_at is a string", _field(4, "soon"), "field run_at"),
    Damage("created_at is nil", _field(8, None), "field created_at"),
    Damage("progress is 7", _field(9, 7), "field progress"),
    # the data part
    Damage("data part missing", _data_bytes(b""), "the data part is missing"),
    Damage("data part garbage", _data_bytes(b"\xc1garbage"), "data part is not a msgpack array"),
    Damage("data part is 4 MB of NUL", _data_bytes(bytes(4_000_000)), "data part is not"),
    Damage("data part too short", _data(lambda d: d[:3]), "data part is not"),
    Damage("task is a number", _data(lambda d: d.__setitem__(0, 42)), "field task", True),
    Damage("NUL byte in the task", _data(lambda d: d.__setitem__(0, "a\x00b")), "field task", True),
    Damage("task is invalid UTF-8", _task_bytes(b"tests.\xff\xfe"), "field task", True),
    Damage("payload is text", _data(lambda d: d.__setitem__(1, "text")), "field payload", True),
    Damage("depends_on is 5", _data(lambda d: d.__setitem__(3, 5)), "field depends_on", True),
]


# -- applied to a stored job --------------------------------------------------------------


def key_of(backend: Backend, kind: str, queue: str = "default") -> str:
    return backend.drivers[0].keys.queue(queue)[QUEUE_KEYS.index(kind)]  # type: ignore[attr-defined, no-any-return]


def _client(backend: Backend) -> Any:
    return backend.drivers[0].client  # type: ignore[attr-defined]


def _rewrite(damage: Damage) -> Callable[[Backend, Job], Any]:
    async def apply(backend: Backend, job: Job) -> None:
        jobs = key_of(backend, "jobs", job.queue)
        record = await _client(backend).hget(jobs, job.id)
        assert record is not None, f"job {job.id} has no record to damage"
        await _client(backend).hset(jobs, job.id, damage.mangle(record))

    return apply


async def _delete_record(backend: Backend, job: Job) -> None:
    await _client(backend).hdel(key_of(backend, "jobs", job.queue), job.id)


async def _unlink_from_sets(backend: Backend, job: Job) -> None:
    entry = run_key(job.run_at) + job.id
    for kind in ("ready", "scheduled"):
        await _client(backend).zrem(key_of(backend, kind, job.queue), entry)


async def _garbage_payload(backend: Backend, job: Job) -> None:
    await _rewrite(Damage("", _data(lambda d: d.__setitem__(1, b"\xc1\xff\x00garbage")), ""))(
        backend, job
    )


CORRUPTIONS = [
    *(Corruption(d.name, _rewrite(d), d.reason) for d in DAMAGES),
    Corruption("payload garbage bytes", _garbage_payload, "undecodable"),
    Corruption("record deleted, its entry still queued", _delete_record, "the record is missing"),
    Corruption("record in no set", _unlink_from_sets, "in no queue set"),
]

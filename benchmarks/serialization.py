"""Payload size and encode/decode time of a typical model instance (10 columns).

    python -m benchmarks.serialization [--runs 5] [--quick]

Compares what asynctasq sends (a reference: model name and primary key) with
pickling the instance (what pickle-based queues send) and with JSON of its column
dict (what people hand-roll), plus asynctasq's msgpack of the same column dict for
scale. A reference carries no row, so the worker fetches it: the last rows time that
fetch (one query for one model, and for 100 models of one class) on an in-memory
SQLite database, which is the floor; a networked database adds its round trip.

Each figure is the median of ``--runs`` timings (min and max beside it), each timing
the mean of enough calls to fill ~0.2 s.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import pickle
import platform
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import Numeric, String, create_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker
from sqlalchemy.pool import StaticPool

from asynctasq.serialization import dumps, loads
from asynctasq.serialization.orm import sqlalchemy as sa_orm
from asynctasq.serialization.resolve import resolve_references


class Base(DeclarativeBase):
    pass


class Account(Base):
    """A typical row: 10 columns of the usual types."""

    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[uuid.UUID] = mapped_column(default=uuid.uuid4)
    email: Mapped[str] = mapped_column(String(200))
    full_name: Mapped[str] = mapped_column(String(100))
    plan: Mapped[str] = mapped_column(String(20))
    balance: Mapped[Decimal] = mapped_column(Numeric(12, 2))
    is_active: Mapped[bool]
    login_count: Mapped[int]
    created_at: Mapped[dt.datetime]
    last_seen_at: Mapped[dt.datetime]


def _account(i: int) -> Account:
    now = dt.datetime(2026, 11, 24, 9, 30, tzinfo=dt.UTC)
    return Account(
        id=i,
        public_id=uuid.UUID(int=i),
        email=f"user{i}@example.com",
        full_name=f"User Number {i}",
        plan="business",
        balance=Decimal("1234.56"),
        is_active=True,
        login_count=42 * i,
        created_at=now - dt.timedelta(days=400),
        last_seen_at=now,
    )


def _columns(obj: Account) -> dict[str, Any]:
    return {c.key: getattr(obj, c.key) for c in Account.__mapper__.column_attrs}


def _per_call_us(fn: Callable[[], object], runs: int, budget: float) -> list[float]:
    calls = 1
    while True:  # calibrate: enough calls to fill the budget
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        elapsed = time.perf_counter() - start
        if elapsed >= budget / 4 or calls > 1_000_000:
            break
        calls *= 4
    calls = max(1, int(calls * budget / max(elapsed, 1e-9)))
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        samples.append((time.perf_counter() - start) / calls * 1e6)
    return samples


def _cell(samples: list[float]) -> str:
    return f"{statistics.median(samples):,.2f} ({min(samples):,.2f}-{max(samples):,.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="a smoke run: 2 short runs")
    args = parser.parse_args()
    runs, budget = (2, 0.02) if args.quick else (args.runs, 0.2)

    engine = create_engine(
        "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
    )
    Base.metadata.create_all(engine)
    with Session(engine, expire_on_commit=False) as session:
        session.add_all([_account(i) for i in range(1, 101)])
        session.commit()
        accounts = session.query(Account).order_by(Account.id).all()
    account = accounts[0]
    sa_orm.configure(sessionmaker(engine), Base)

    columns = _columns(account)
    ref_bytes = dumps(account)
    pickled = pickle.dumps(account)
    as_json = json.dumps(columns, default=str).encode()
    values = dumps(columns)
    formats: list[tuple[str, bytes, Callable[[], object], Callable[[], object]]] = [
        (
            "asynctasq reference (msgpack)",
            ref_bytes,
            lambda: dumps(account),
            lambda: loads(ref_bytes),
        ),
        (
            "pickle of the instance",
            pickled,
            lambda: pickle.dumps(account),
            lambda: pickle.loads(pickled),
        ),
        (
            "JSON of its column dict (default=str)",
            as_json,
            lambda: json.dumps(_columns(account), default=str).encode(),
            lambda: json.loads(as_json),
        ),
        (
            "msgpack of its column dict (asynctasq types)",
            values,
            lambda: dumps(_columns(account)),
            lambda: loads(values),
        ),
    ]

    print(
        f"Python {platform.python_version()} on {platform.machine()}, {platform.system()}; "
        f"median (min-max) of {runs} runs\n"
    )
    print("| format | bytes | encode (µs) | decode (µs) |")
    print("|---|---:|---:|---:|")
    for name, data, encode, decode in formats:
        enc = _per_call_us(encode, runs, budget)
        dec = _per_call_us(decode, runs, budget)
        print(f"| {name} | {len(data)} | {_cell(enc)} | {_cell(dec)} |")

    loop = asyncio.new_event_loop()
    one = [loads(ref_bytes)]
    hundred = [loads(dumps(a)) for a in accounts]
    fetch_one = _per_call_us(lambda: loop.run_until_complete(resolve_references(one)), runs, budget)
    fetch_100 = _per_call_us(
        lambda: loop.run_until_complete(resolve_references(hundred)), runs, budget
    )
    loop.close()
    print("\n| worker-side fetch of the references (SQLite in memory, sync session) | µs |")
    print("|---|---:|")
    print(f"| 1 model (1 query) | {_cell(fetch_one)} |")
    print(f"| 100 models of one class (1 query) | {_cell(fetch_100)} |")
    print(f"\nThe reference names {loads(ref_bytes).model!r}.")
    print(
        f"100 references travel as {len(dumps(accounts))} bytes; pickled, the 100 "
        f"instances take {len(pickle.dumps(accounts))} bytes."
    )
    sa_orm.unconfigure()
    engine.dispose()


if __name__ == "__main__":
    # run the module's own copy, so the model's class path (part of the reference) is
    # benchmarks.serialization:Account as in an application, not __main__:Account
    from benchmarks.serialization import main as run

    sys.exit(run())

"""Model references without a database server: SQLAlchemy on SQLite (sync and async).

The same behaviour against PostgreSQL, MariaDB, Django and Tortoise lives in
tests/integration/test_orm_*.py.
"""

from __future__ import annotations

import datetime as dt
import pickle
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgpack
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import StaticPool

from asynctasq.config import Config
from asynctasq.errors import ModelNotFound, PermanentError, PoisonJobError
from asynctasq.serialization import dumps, loads
from asynctasq.serialization.orm import SQLAlchemyRef, UnknownModelError, UnsavedModelError
from asynctasq.serialization.orm import sqlalchemy as sa_orm
from asynctasq.serialization.payload import decode_payload, encode_payload
from asynctasq.serialization.resolve import raise_for_unresolved, resolve_references
from tests.integration.orm_support.sql_log import record_selects
from tests.integration.orm_support.sqlalchemy_models import (
    Base,
    Customer,
    Document,
    OrderLine,
    Secret,
    seed,
)

CUSTOMER = "tests.integration.orm_support.sqlalchemy_models:Customer"

# for the settings test: a module attribute ASYNCTASQ_SQLALCHEMY_SESSION_FACTORY can name
SHARED_ENGINE = create_engine(
    "sqlite://", poolclass=StaticPool, connect_args={"check_same_thread": False}
)
SharedSession = sessionmaker(SHARED_ENGINE)


@pytest.fixture(params=["sync", "async"])
async def factory(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[Any, list[str]]]:
    path = tmp_path / "orm.db"
    sync_engine = create_engine(f"sqlite:///{path}")
    seed(sync_engine)
    if request.param == "sync":
        yield sessionmaker(sync_engine), record_selects(sync_engine)
    else:
        engine = create_async_engine(f"sqlite+aiosqlite:///{path}")
        yield async_sessionmaker(engine), record_selects(engine.sync_engine)
        await engine.dispose()
    sync_engine.dispose()
    sa_orm.unconfigure()


@pytest.fixture
def loaded(tmp_path: Path) -> Iterator[dict[str, Any]]:
    """Persistent (detached) instances, as a web request would hold them."""
    engine = create_engine(f"sqlite:///{tmp_path / 'src.db'}")
    seed(engine)
    with Session(engine, expire_on_commit=False) as session:
        yield {
            "customers": session.query(Customer).order_by(Customer.id).all(),
            "lines": session.query(OrderLine).order_by(OrderLine.line_no).all(),
            "document": session.get(Document, uuid.UUID(int=5)),
        }
    engine.dispose()


def test_an_instance_travels_as_a_small_reference(loaded: dict[str, Any]) -> None:
    customer, line = loaded["customers"][0], loaded["lines"][1]
    data = dumps(customer)
    assert len(data) < 80
    assert loads(data) == SQLAlchemyRef(CUSTOMER, 1)
    assert loads(dumps(line)).pk == (9, 2)
    assert loads(dumps(loaded["document"])).pk == uuid.UUID(int=5)
    assert dumps(loads(data)) == data  # a placeholder re-encodes to the same bytes


def test_unsaved_instances_are_refused_at_dispatch(tmp_path: Path) -> None:
    transient = Customer(name="new", email="n@x.io", balance=Decimal(0), joined=dt.date.today())
    with pytest.raises(UnsavedModelError, match=r"unsaved .*Customer.*commit \(or flush\)"):
        encode_payload({"customer": transient})
    engine = create_engine(f"sqlite:///{tmp_path / 'p.db'}")
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add(transient)  # pending: still no row
        with pytest.raises(UnsavedModelError):
            dumps([transient])
        session.flush()
        assert loads(dumps(transient)).pk == transient.id
    engine.dispose()


async def test_models_in_nested_structures_are_fetched_one_query_per_class(
    factory: tuple[Any, list[str]], loaded: dict[str, Any]
) -> None:
    session_factory, selects = factory
    sa_orm.configure(session_factory, Base)
    customers, lines, document = loaded["customers"], loaded["lines"], loaded["document"]
    args, _ = decode_payload(
        encode_payload(
            {
                "all": customers,
                "first": customers[0],
                "by_doc": {document: (lines[0], {customers[1]})},
                "lines": lines,
            }
        )
    )
    resolved = await resolve_references(args)
    raise_for_unresolved(resolved)
    assert sorted(selects) == ["customers", "documents", "order_lines"]
    assert [c.name for c in resolved["all"]] == ["c1", "c2", "c3", "c4", "c5"]
    assert resolved["first"] is resolved["all"][0]  # one row, one instance
    [(doc, (line, people))] = resolved["by_doc"].items()
    assert (doc.title, line.quantity, {p.name for p in people}) == ("terms v1", 1, {"c2"})
    assert isinstance(resolved["by_doc"][doc], tuple)


async def test_the_row_is_fetched_fresh(factory: tuple[Any, list[str]], tmp_path: Path) -> None:
    session_factory, _ = factory
    sa_orm.configure(session_factory, Base)
    engine = create_engine(f"sqlite:///{tmp_path / 'orm.db'}")
    with Session(engine, expire_on_commit=False) as session:
        customer = session.get(Customer, 3)
        payload = encode_payload({"c": customer})
        session.execute(text("UPDATE customers SET name = 'renamed' WHERE id = 3"))
        session.commit()
    engine.dispose()
    args, _ = decode_payload(payload)
    assert (await resolve_references(args))["c"].name == "renamed"


async def test_huge_lists_are_fetched_in_chunks(factory: tuple[Any, list[str]]) -> None:
    session_factory, selects = factory
    sa_orm.configure(session_factory, Base, chunk_size=2)
    refs = [SQLAlchemyRef(CUSTOMER, i) for i in range(1, 6)]
    resolved = await resolve_references(refs)
    assert [c.id for c in resolved] == [1, 2, 3, 4, 5]
    assert selects == ["customers"] * 3


async def test_missing_rows_stay_placeholders_and_fail_the_attempt(
    factory: tuple[Any, list[str]],
) -> None:
    session_factory, _ = factory
    sa_orm.configure(session_factory, Base)
    args = {
        "a": SQLAlchemyRef(CUSTOMER, 1),
        "b": [SQLAlchemyRef(CUSTOMER, 41), SQLAlchemyRef(CUSTOMER, 42)],
    }
    resolved = await resolve_references(args)
    assert resolved["a"].name == "c1"
    assert all(isinstance(ref, SQLAlchemyRef) for ref in resolved["b"])
    with pytest.raises(ModelNotFound) as caught:
        raise_for_unresolved(resolved)
    error = caught.value
    assert isinstance(error, PermanentError)
    assert (error.model, error.keys) == (CUSTOMER, (41, 42))
    assert "Customer with primary keys 41, 42 no longer exists" in str(error)


async def test_an_unreachable_database_is_a_retryable_error() -> None:
    engine = create_async_engine("postgresql+asyncpg://postgres@127.0.0.1:9/none")  # refused
    sa_orm.configure(async_sessionmaker(engine), Base)
    try:
        resolved = await resolve_references([SQLAlchemyRef(CUSTOMER, 1)])
        with pytest.raises(Exception) as caught:
            raise_for_unresolved(resolved)
        assert not isinstance(caught.value, PermanentError)  # retried with backoff
    finally:
        await engine.dispose()
        sa_orm.unconfigure()


@pytest.mark.parametrize(
    "name",
    [
        "os:system",
        "asynctasq.config:Config",  # loaded, but not a model
        "tests.integration.orm_support.sqlalchemy_models:Secret",  # mapped by another base
        "forged_module_never_imported_zz:Thing",
    ],
)
async def test_forged_references_are_refused_and_nothing_is_imported(
    factory: tuple[Any, list[str]], name: str
) -> None:
    session_factory, selects = factory
    sa_orm.configure(session_factory, Base)
    payload = msgpack.packb(
        {"args": {"x": msgpack.ExtType(20, msgpack.packb([name, 1]))}}, use_bin_type=True
    )
    args, _ = decode_payload(payload)
    with pytest.raises(UnknownModelError, match="refused a reference") as caught:
        await resolve_references(args)
    assert isinstance(caught.value, PoisonJobError)
    assert "forged_module_never_imported_zz" not in sys.modules
    assert selects == []
    assert Secret.__tablename__ == "secrets"


async def test_a_worker_without_sqlalchemy_set_up_says_how() -> None:
    sa_orm.unconfigure()
    with pytest.raises(UnknownModelError, match="configure\\(session_factory, Base\\)"):
        await resolve_references([SQLAlchemyRef(CUSTOMER, 1)], Config())


async def test_the_session_factory_can_come_from_the_settings() -> None:
    seed(SHARED_ENGINE)
    sa_orm.unconfigure()
    config = Config(
        sqlalchemy_session_factory=f"{__name__}:SharedSession",
        sqlalchemy_bases=("tests.integration.orm_support.sqlalchemy_models:Base",),
    )
    try:
        resolved = await resolve_references([SQLAlchemyRef(CUSTOMER, 2)], config)
        assert resolved[0].email == "c2@example.com"
    finally:
        sa_orm.unconfigure()
    bad = Config(sqlalchemy_session_factory=f"{__name__}:SharedSession")
    with pytest.raises(UnknownModelError, match="ASYNCTASQ_SQLALCHEMY_BASES is empty"):
        await resolve_references([SQLAlchemyRef(CUSTOMER, 2)], bad)
    typo = Config(sqlalchemy_session_factory="nosuch_settings_mod_zz:Session")
    with pytest.raises(UnknownModelError, match="ASYNCTASQ_SQLALCHEMY_SESSION_FACTORY"):
        await resolve_references([SQLAlchemyRef(CUSTOMER, 2)], typo)


def test_configure_needs_a_base() -> None:
    with pytest.raises(ValueError, match="declarative base"):
        sa_orm.configure(SharedSession)
    with pytest.raises(TypeError, match="neither a declarative base"):
        sa_orm.configure(SharedSession, object())


def test_model_not_found_crosses_a_process_boundary_as_itself() -> None:
    error = pickle.loads(pickle.dumps(ModelNotFound("app.Order", (1, "a"))))
    assert isinstance(error, ModelNotFound)
    assert (error.model, error.key) == ("app.Order", (1, "a"))
    assert "app.Order with primary key (1, 'a') no longer exists" in str(error)
    many = ModelNotFound("m", *range(12))
    assert str(many).count(",") == 10  # ten keys shown, then "..."


FORGERY_SCRIPT = """
import sys, asyncio, msgpack
from asynctasq.errors import PoisonJobError
from asynctasq.serialization.payload import decode_payload
from asynctasq.serialization.resolve import resolve_references
from asynctasq.config import Config

refused = []
for code, name in [(20, "os:system"), (21, "os.system"), (22, "forged_zz.Thing"),
                   (20, "forged_zz_mod:Thing"), (21, "forged_zz_app.Model")]:
    data = msgpack.packb({"args": {"m": msgpack.ExtType(code, msgpack.packb([name, 1]))}})
    args, _ = decode_payload(data)
    try:
        asyncio.run(resolve_references(args, Config()))
    except PoisonJobError as exc:
        refused.append(type(exc).__name__)
loaded = [m for m in ("sqlalchemy", "django", "tortoise", "forged_zz", "forged_zz_mod",
                      "forged_zz_app") if m in sys.modules]
print(refused, loaded)
"""


def test_a_payload_cannot_make_the_worker_import_anything() -> None:
    """In a clean interpreter: references for each ORM, none set up, nothing loaded."""
    out = subprocess.run(
        [sys.executable, "-c", FORGERY_SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).parents[2],
        check=True,
    ).stdout
    assert out.strip() == f"{['UnknownModelError'] * 5} []"

"""SQLAlchemy models that run unchanged on PostgreSQL, MariaDB and SQLite."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

from sqlalchemy import Numeric, String
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column


class Base(DeclarativeBase):
    pass


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    email: Mapped[str] = mapped_column(String(200))
    balance: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    joined: Mapped[dt.date]


class OrderLine(Base):
    """A composite primary key."""

    __tablename__ = "order_lines"

    order_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    line_no: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    sku: Mapped[str] = mapped_column(String(40))
    quantity: Mapped[int]


class Document(Base):
    """A UUID primary key."""

    __tablename__ = "documents"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    title: Mapped[str] = mapped_column(String(100))


class Unlisted(DeclarativeBase):
    """A second base the worker is never given."""


class Secret(Unlisted):
    __tablename__ = "secrets"

    id: Mapped[int] = mapped_column(primary_key=True)


def seed(engine: Engine) -> None:
    """Fresh tables with five customers, an order of two lines and a document."""
    Base.metadata.drop_all(engine)
    Base.metadata.create_all(engine)
    with Session(engine) as session:
        session.add_all(
            [
                Customer(
                    id=i,
                    name=f"c{i}",
                    email=f"c{i}@example.com",
                    balance=Decimal("10.00"),
                    joined=dt.date(2024, 1, i),
                )
                for i in range(1, 6)
            ]
            + [OrderLine(order_id=9, line_no=n, sku=f"S{n}", quantity=n) for n in (1, 2)]
            + [Document(id=uuid.UUID(int=5), title="terms v1")]
        )
        session.commit()

"""Tasks that take models. The worker imports this module (--import tasks), so the
configure() call below is how it learns where sessions come from and which models
it may load (only mapped classes of Base)."""

from __future__ import annotations

from db import Session
from models import Base, Customer, OrderLine

from asynctasq import AsyncTask
from asynctasq.serialization.orm.sqlalchemy import configure

configure(Session, Base)


class SendInvoice(AsyncTask[None]):
    customer: Customer
    lines: list[OrderLine]

    async def execute(self) -> None:
        items = ", ".join(f"{line.quantity} x {line.item}" for line in self.lines)
        print(f"  invoice for {self.customer.name} <{self.customer.email}>: {items}", flush=True)


class SendWelcome(AsyncTask[None]):
    customer: Customer

    async def execute(self) -> None:
        print(f"  welcome, {self.customer.name}", flush=True)

    async def failed(self, exception: BaseException) -> None:
        print(f"  [failed hook] {type(exception).__name__}: {exception}", flush=True)

"""Tasks that take SQLAlchemy models and record what they saw."""

from __future__ import annotations

from typing import Any

from asynctasq.errors import ModelNotFound
from asynctasq.tasks.kinds import AsyncProcessTask, AsyncTask, SyncProcessTask, SyncTask
from tests.integration.orm_support.sqlalchemy_models import Customer, Document, OrderLine

SEEN: list[Any] = []
FAILED: list[BaseException] = []


class GreetCustomer(AsyncTask[str]):
    customer: Customer

    async def execute(self) -> str:
        SEEN.append((self.customer.name, self.customer.balance))
        return self.customer.name

    async def failed(self, exception: BaseException) -> None:
        FAILED.append(exception)


class ShipOrder(SyncTask[None]):
    """Many models of several classes, in nested structures, run in a thread."""

    customers: list[Customer]
    lines: tuple[OrderLine, ...]
    documents: dict[str, Document]
    note: str

    def execute(self) -> None:
        SEEN.append(
            {
                "customers": [c.name for c in self.customers],
                "lines": [(ln.order_id, ln.line_no, ln.quantity) for ln in self.lines],
                "documents": {k: d.title for k, d in self.documents.items()},
                "note": self.note,
            }
        )


class RetryMissing(AsyncTask[None]):
    """Asks for a retry on ModelNotFound, which is not retried by default."""

    config = {"max_attempts": 2, "retry_delay": 0}
    customer: Customer

    def should_retry(self, exception: BaseException) -> bool:
        return isinstance(exception, ModelNotFound) or super().should_retry(exception)

    async def execute(self) -> None:
        SEEN.append(self.customer.name)

    async def failed(self, exception: BaseException) -> None:
        FAILED.append(exception)


class CustomerReport(SyncProcessTask[str]):
    """Runs in a pool process, which fetches the rows itself."""

    customer: Customer
    lines: list[OrderLine]

    def execute(self) -> str:
        return f"{self.customer.name}:{sum(line.quantity for line in self.lines)}"


class AsyncCustomerReport(AsyncProcessTask[str]):
    customer: Customer

    async def execute(self) -> str:
        return f"async:{self.customer.name}:{self.customer.email}"

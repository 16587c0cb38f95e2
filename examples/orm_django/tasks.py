"""Tasks that take Django models. The worker imports this module (--import tasks):
setting Django up here is all it needs to load models of INSTALLED_APPS."""

from __future__ import annotations

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shop.settings")
django.setup()

from shop.models import Customer, Order  # noqa: E402

from asynctasq import AsyncTask, SyncTask  # noqa: E402


class ShipOrder(SyncTask[None]):
    """Plain Django code, in the worker's thread pool: lazy relations work here."""

    order: Order

    def execute(self) -> None:
        customer = self.order.customer  # a query, like anywhere in Django
        print(
            f"  shipping order {self.order.pk} ({self.order.status}) to {customer.email}",
            flush=True,
        )


class Remind(AsyncTask[None]):
    """On the event loop: use the row's columns, or Django's async API (aget, asave...)."""

    customers: list[Customer]

    async def execute(self) -> None:
        print(f"  reminding {', '.join(c.name for c in self.customers)}", flush=True)

    async def failed(self, exception: BaseException) -> None:
        print(f"  [failed hook] {type(exception).__name__}: {exception}", flush=True)

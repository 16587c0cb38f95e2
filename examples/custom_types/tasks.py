"""Tasks whose arguments are your own types. Importing hooks registers them."""

from __future__ import annotations

import dataclasses
import datetime as dt

from hooks import Money, payload
from pydantic import BaseModel

from asynctasq import AsyncTask


@payload("shop.Address")
@dataclasses.dataclass
class Address:
    street: str
    city: str


class Customer(BaseModel):
    name: str
    email: str
    since: dt.date


class ChargeCustomer(AsyncTask[str]):
    customer: Customer
    amount: Money
    ship_to: Address

    async def execute(self) -> str:
        print(
            f"  charging {self.customer.name} <{self.customer.email}> "
            f"(customer since {self.customer.since:%Y}) {self.amount.amount} "
            f"{self.amount.currency}, shipping to {self.ship_to.city}",
            flush=True,
        )
        return "ok"

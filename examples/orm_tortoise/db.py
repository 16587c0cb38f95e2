"""Tortoise settings shared by the app and the worker. SHOP_DATABASE_URL picks the
database (e.g. asyncpg://postgres@localhost/shop); SQLite by default."""

from __future__ import annotations

import os
from pathlib import Path

from tortoise import Tortoise

DEFAULT_URL = f"sqlite://{Path(__file__).resolve().parent / 'shop.db'}"


async def init() -> None:
    await Tortoise.init(
        db_url=os.environ.get("SHOP_DATABASE_URL", DEFAULT_URL), modules={"models": ["models"]}
    )

"""Where sessions come from. SHOP_DATABASE_URL picks the database (any async
SQLAlchemy URL: postgresql+asyncpg://..., mysql+aiomysql://...); SQLite by default."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine

DEFAULT_URL = f"sqlite+aiosqlite:///{Path(__file__).resolve().parent / 'shop.db'}"

engine = create_async_engine(os.environ.get("SHOP_DATABASE_URL", DEFAULT_URL))
Session = async_sessionmaker(engine, expire_on_commit=False)

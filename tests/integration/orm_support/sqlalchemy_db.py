"""Session factories named by ASYNCTASQ_SQLALCHEMY_SESSION_FACTORY in pool-process tests.

The database URL comes from ASYNCTASQ_TEST_ORM_URL, set by the test before it
starts the pool (spawned processes inherit it)."""

from __future__ import annotations

import os

from sqlalchemy import create_engine
from sqlalchemy.ext.asyncio import async_sessionmaker, create_async_engine
from sqlalchemy.orm import sessionmaker

URL = os.environ["ASYNCTASQ_TEST_ORM_URL"]
ASYNC_URL = os.environ["ASYNCTASQ_TEST_ORM_ASYNC_URL"]

Session = sessionmaker(create_engine(URL))
AsyncSession = async_sessionmaker(create_async_engine(ASYNC_URL))

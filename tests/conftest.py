from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from asynctasq.config import set_global_config
from tests.backends import BACKENDS, Backend


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backends",
        default=os.environ.get("ASYNCTASQ_TEST_BACKENDS", ",".join(BACKENDS)),
        help="comma-separated brokers to run driver tests on (default: all)",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        chosen = [b for b in metafunc.config.getoption("--backends").split(",") if b in BACKENDS]
        wanted = getattr(metafunc.function, "backends", None)
        if wanted is not None:
            chosen = [b for b in chosen if b in wanted]
        metafunc.parametrize("backend_name", chosen)


@pytest.fixture
async def backend(backend_name: str, tmp_path: Path) -> AsyncIterator[Backend]:
    instance = BACKENDS[backend_name](tmp_path)
    await instance.setup()
    try:
        yield instance
    finally:
        await instance.teardown()


@pytest.fixture(autouse=True)
def _fresh_global_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's .env or writes asynctasq.db in the checkout."""
    for key in list(os.environ):
        if key.startswith("ASYNCTASQ_") and key != "ASYNCTASQ_TEST_BACKENDS":
            monkeypatch.delenv(key)
    monkeypatch.setenv("ASYNCTASQ_SQLITE_PATH", str(tmp_path / "global.db"))
    set_global_config(None)


def only_backends(*names: str):  # type: ignore[no-untyped-def]
    """Run a backend-parametrized test on these brokers only."""

    def mark(fn):  # type: ignore[no-untyped-def]
        fn.backends = names
        return fn

    return mark

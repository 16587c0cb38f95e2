"""Settings for each broker, pointed at a namespace of their own so a benchmark
never touches other data. Each driver adds its entry here."""

from __future__ import annotations

import dataclasses
import os
import secrets
import tempfile
from pathlib import Path

from asynctasq.config import Config

__all__ = ["bench_config", "cleanup", "config_env"]

_TOKEN = secrets.token_hex(3)


def bench_config(driver: str) -> Config:
    """The global settings (ASYNCTASQ_* variables) with an isolated namespace."""
    base = Config.from_env(env_file=None, driver=driver)
    if driver == "sqlite":
        folder = Path(tempfile.mkdtemp(prefix="asynctasq-bench-"))
        return base.replace(sqlite_path=str(folder / "bench.db"))
    if driver == "redis":
        return base.replace(redis_prefix=f"bench-{_TOKEN}")
    if driver == "postgres":
        return base.replace(postgres_schema=f"bench_{_TOKEN}")
    return base


def config_env(config: Config) -> dict[str, str]:
    """The ASYNCTASQ_* variables that give a worker subprocess these settings."""
    env = {}
    for f in dataclasses.fields(config):
        value = getattr(config, f.name)
        if value is None:
            continue
        env[f.metadata["env"]] = ",".join(value) if isinstance(value, tuple) else str(value)
    return env


def cleanup(config: Config) -> None:
    if config.driver == "sqlite":
        for suffix in ("", "-wal", "-shm"):
            path = Path(config.sqlite_path + suffix)
            if path.exists():
                os.unlink(path)

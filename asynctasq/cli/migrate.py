"""``asynctasq migrate``: create or upgrade the broker's tables."""

from __future__ import annotations

import argparse
import asyncio

from asynctasq.cli.options import add_setting, config_from_args
from asynctasq.config import Config, redact_url
from asynctasq.core.driver_factory import DriverFactory

__all__ = ["add_parser", "run"]


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = commands.add_parser(
        "migrate",
        help="create or upgrade the broker's schema",
        description="Apply the schema migrations the broker is missing. Safe to run twice and "
        "from several machines at once; never drops data.",
    )
    add_setting(parser, "--driver", "driver", metavar="NAME")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    config = config_from_args(args)
    applied = asyncio.run(_migrate(config))
    target = _describe(config)
    if applied:
        for name in applied:
            print(f"applied {name}")
        print(f"{target}: {len(applied)} migration(s) applied")
    else:
        print(f"{target}: schema up to date")
    return 0


async def _migrate(config: Config) -> list[str]:
    driver = DriverFactory.create_from_config(config)
    await driver.connect()
    try:
        return await driver.migrate()
    finally:
        await driver.disconnect()


def _describe(config: Config) -> str:
    where = {
        "sqlite": config.sqlite_path,
        "redis": redact_url(config.redis_url),
        "postgres": f"{redact_url(config.postgres_dsn)} schema {config.postgres_schema}",
        "mysql": redact_url(config.mysql_dsn),
    }.get(config.driver, "")
    return f"{config.driver} {where}".strip()

"""``settings.ASYNCTASQ`` -> asynctasq's settings.

The dict plays the part of a settings class: an ``ASYNCTASQ_*`` variable set in the
environment still wins over it (one place to override a deployment, as everywhere
else). Its values are given to the process as the variables' defaults, so the
worker that ``manage.py asynctasq_worker`` starts (and any ``--processes`` children)
read the same settings.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from typing import Any

from asynctasq.config import Config, ConfigError, set_global_config

__all__ = ["apply_settings"]

_ENV = {f.name: f.metadata["env"] for f in dataclasses.fields(Config)}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(map(str, value))
    return str(value)


def apply_settings(values: Mapping[str, Any]) -> None:
    """Make ``values`` (setting name -> value) the defaults of this process."""
    unknown = set(values) - set(_ENV)
    if unknown:
        raise ConfigError(
            f"settings.ASYNCTASQ: unknown setting(s) {', '.join(sorted(unknown))}; "
            "the names are those of docs/configuration.md (driver, redis_url, ...)"
        )
    for name, value in values.items():
        os.environ.setdefault(_ENV[name], _text(value))
    set_global_config(None)  # read again, with them, at the next use

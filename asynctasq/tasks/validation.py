"""Checks of a task class's ``config``, run once when the class is created.

A bad number there would otherwise reach the broker with every job of the class
(a NaN timeout, an infinite retry delay); refusing it at import names the class.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from asynctasq.checks import check_attempts, check_priority, check_seconds
from asynctasq.dedup import check_unique
from asynctasq.jobs import validate_name
from asynctasq.schedules import valid_cron
from asynctasq.tasks.retry import Backoff

__all__ = [
    "attempts_from_retries",
    "check_rate_limit",
    "check_task_config",
    "checked_retry_delay",
]


def checked_retry_delay(name: str, value: Any) -> float | Backoff:
    """A retry delay: seconds (a number or timedelta) or a Backoff (checked when built)."""
    if isinstance(value, Backoff):
        return value
    return check_seconds(name, value)


def attempts_from_retries(owner: str, config: Mapping[str, Any]) -> Mapping[str, Any]:
    """One class's own ``config`` with ``max_retries`` (the spelling of the settings
    and of AsyncMQ's ``retries``) turned into ``max_attempts``, which jobs carry."""
    if "max_retries" not in config:
        return config
    if "max_attempts" in config:
        raise ValueError(
            f"{owner}.config sets both max_retries and max_attempts: give one "
            "(max_attempts = max_retries + 1)"
        )
    converted = dict(config)
    retries = converted.pop("max_retries")
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise ValueError(
            f"{owner}.config['max_retries']={retries!r} is not valid: expected a count >= 0 "
            "(retries after the first attempt)"
        )
    converted["max_attempts"] = check_attempts(f"{owner}.config['max_retries'] + 1", retries + 1)
    return converted


def check_task_config(owner: str, config: Mapping[str, Any]) -> dict[str, Any]:
    """``config`` with its values normalised (a timedelta becomes seconds, 2.0 a
    priority of 2); ValueError naming ``owner.config[key]`` for the first bad value."""
    checked: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{owner}.config[{key!r}]"
        if key == "queue":
            value = validate_name("queue", value)
        elif key == "max_attempts":
            value = check_attempts(name, value)
        elif key == "retry_delay":
            value = checked_retry_delay(name, value)
        elif key == "timeout" and value is not None:
            value = check_seconds(name, value, positive=True)
        elif key == "priority":
            value = check_priority(name, value)
        elif key == "rate_limit":
            value = check_rate_limit(name, value)
        elif key == "rate_burst" and (
            isinstance(value, bool) or not isinstance(value, int) or value < 1
        ):
            raise ValueError(f"{name}={value!r} must be a whole number >= 1")
        elif key == "rate_limit_key" and not callable(value):
            raise ValueError(f"{name}={value!r} must be a callable given the task (its key)")
        elif key == "max_concurrency":
            value = check_attempts(name, value)
        elif key in ("unique_key", "concurrency_key") and not (
            callable(value) or (isinstance(value, str) and value)
        ):
            raise ValueError(f"{name}={value!r}: expected a key (text) or a function of the task")
        elif key in ("visibility_timeout", "repeat_every", "ttl", "rate_interval", "unique_for"):
            value = check_seconds(name, value, positive=True)
        elif key == "cron" and not valid_cron(value):
            raise ValueError(f"{name}={value!r} is not a cron expression")
        elif key == "timezone":
            from zoneinfo import ZoneInfo  # here: not at every worker's start-up

            ZoneInfo(value)  # ZoneInfoNotFoundError (a KeyError) names an unknown zone
        checked[key] = value
    if "unique_mode" in checked or "unique_for" in checked:
        try:
            check_unique(checked.get("unique_mode"), checked.get("unique_for"))
        except ValueError as exc:
            raise ValueError(f"{owner}.config: {exc}") from None
    return checked


def check_rate_limit(name: str, value: object) -> int:
    """A rate limit: a whole number of starts per interval, 0 blocking."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name}={value!r} must be a whole number >= 0 (0 blocks)")
    return value

"""How the text of one setting becomes its value, and the range every value must be in.

Used by ``Config`` (config.py): fields carry ``minimum`` and ``maximum`` in their
metadata; every number must also be finite (a NaN passes every ``<`` test, so it
must be refused by name).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import types
import typing
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Literal, get_args, get_origin

__all__ = [
    "ConfigError",
    "DriverOptions",
    "check_range",
    "driver_options_setting",
    "driver_setting",
    "parse_setting",
]


class ConfigError(ValueError):
    """A setting has a value asynctasq cannot use."""


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_setting(f: dataclasses.Field[Any], hint: Any, raw: str) -> Any:
    env = f.metadata["env"]
    optional = False
    if get_origin(hint) in (types.UnionType, typing.Union):
        args = [a for a in get_args(hint) if a is not type(None)]
        optional, hint = len(args) < len(get_args(hint)), args[0]
    text = raw.strip()
    if optional and text == "":
        return None
    if hint is DriverOptions:
        return DriverOptions.from_json(raw, env)
    if "check" in f.metadata:
        return f.metadata["check"](text, env)
    parsers: dict[Any, tuple[Callable[[str], Any], str]] = {
        int: (int, "an integer"),
        float: (float, "a number"),
        str: (str, "text"),
        bool: (_bool, "true or false (also 1/0, yes/no, on/off)"),
    }
    if get_origin(hint) is Literal:
        choices = [str(c) for c in get_args(hint)]
        matched = {c.lower(): c for c in choices}.get(text.lower())
        if matched is None:
            raise ConfigError(f"{env}={raw!r} is not valid: expected one of {', '.join(choices)}")
        return matched
    if get_origin(hint) is tuple:
        return tuple(item.strip() for item in text.split(",") if item.strip())
    parse, expected = parsers[hint]
    try:
        value = parse(text)
    except ValueError:
        accepts = expected + (" or empty" if optional else "")
        raise ConfigError(f"{env}={raw!r} is not valid: expected {accepts}") from None
    check_range(f, value, env)
    return value


def _bool(text: str) -> bool:
    low = text.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise ValueError(text)


def check_range(f: dataclasses.Field[Any], value: Any, where: str) -> None:
    """A number of a field must be finite and within its ``minimum`` and ``maximum``."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return
    low, high = f.metadata.get("minimum"), f.metadata.get("maximum")
    finite = not isinstance(value, float) or math.isfinite(value)
    if finite and (low is None or value >= low) and (high is None or value <= high):
        return
    bounds = ([f">= {low}"] if low is not None else []) + (
        [f"<= {high:.0f}"] if high is not None else []
    )
    accepts = " ".join(["a number" if finite else "a finite number", " and ".join(bounds)])
    raise ConfigError(f"{where}={value!r} is not valid: expected {accepts}")


# -- the driver settings (ASYNCTASQ_DRIVER, ASYNCTASQ_DRIVER_OPTIONS) ---------------

#: ASYNCTASQ_DRIVER: a registered name, or the import path of a class (module:Class)
DRIVER_NAME = re.compile(r"[a-z][a-z0-9_-]*")
DRIVER_IMPORT_PATH = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_][\w.]*")


def driver_setting(value: Any, where: str) -> Any:
    """A driver name (lower-cased) or an import path (kept as written)."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    if DRIVER_IMPORT_PATH.fullmatch(text):
        return text
    if DRIVER_NAME.fullmatch(text.lower()):
        return text.lower()
    if "." in text and ":" not in text:
        raise ConfigError(
            f"{where}={value!r} is not valid: an import path names the class after a "
            "colon, e.g. mypkg.broker:MyDriver"
        )
    raise ConfigError(
        f"{where}={value!r} is not valid: expected a driver name (sqlite, memory, redis, "
        "postgres, mysql, rabbitmq, mongodb, or one another package registers) or the import path "
        "of a driver class, module:Class"
    )


def driver_options_setting(value: Any, where: str) -> Any:
    """Options given in code as a plain dict become DriverOptions."""
    if isinstance(value, DriverOptions):
        return value
    if isinstance(value, Mapping):
        return DriverOptions(value)
    raise ConfigError(f"{where} is not valid: expected a mapping of keyword arguments")


class DriverOptions(Mapping[str, Any]):
    """Keyword arguments for the driver (ASYNCTASQ_DRIVER_OPTIONS, a JSON object).

    Immutable and hashable like the rest of Config; its repr shows the option names
    only, never the values (they may hold credentials)."""

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        self._options = dict(options or {})

    @classmethod
    def from_json(cls, text: str, env: str) -> DriverOptions:
        hint = 'expected a JSON object of keyword arguments, e.g. {"url": "nats://host:4222"}'
        try:
            value = json.loads(text) if text.strip() else {}
        except json.JSONDecodeError as exc:  # (the text may hold a secret: not repeated)
            raise ConfigError(
                f"{env} is not valid JSON ({exc.msg}, at {exc.pos}): {hint}"
            ) from None
        if not isinstance(value, dict):
            raise ConfigError(f"{env} is not valid: {hint}, not a {type(value).__name__}")
        return cls(value)

    def __getitem__(self, key: str) -> Any:
        return self._options[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._options)

    def __len__(self) -> int:
        return len(self._options)

    def __hash__(self) -> int:
        return hash(json.dumps(self._options, sort_keys=True, default=repr))

    def __repr__(self) -> str:
        return "{" + ", ".join(f'"{name}": "***"' for name in self._options) + "}"

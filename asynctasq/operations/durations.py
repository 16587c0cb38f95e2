"""Durations as operators type them: ``90``, ``90s``, ``15m``, ``1h``, ``7d``, ``2w``."""

from __future__ import annotations

import math
import re

__all__ = ["parse_duration"]

_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$", re.IGNORECASE)


def parse_duration(text: str) -> float:
    """Seconds in ``text``; ValueError naming the accepted forms otherwise."""
    match = _DURATION.match(text)
    if match is None:
        raise ValueError(f"invalid duration {text!r}: write a number with s, m, h, d or w (7d)")
    seconds = float(match[1]) * _UNITS[match[2].lower()]
    if not math.isfinite(seconds):
        raise ValueError(f"invalid duration {text!r}: too large")
    return seconds

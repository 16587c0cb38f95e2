"""Context that travels with a job, from the code that dispatches it to the worker
that runs it: a trace context (``asynctasq.contrib.otel``), a request id, a tenant.

A *carrier* is a function called at every dispatch with the job's task name and
queue; the text headers it returns ride in the job's payload (its ``options``, no
driver column), and a worker middleware reads them back with ``job_headers()``.
With no carrier added, a dispatch pays one empty-list check.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

__all__ = [
    "HEADERS_OPTION",
    "Carrier",
    "add_carrier",
    "job_headers",
    "outgoing_headers",
    "remove_carrier",
]

#: the key of the payload's options that holds the headers
HEADERS_OPTION = "headers"

#: (task name, queue) -> headers for this job (or None: nothing to add)
Carrier = Callable[[str, str], Mapping[str, str] | None]

_carriers: list[Carrier] = []


def add_carrier(carrier: Carrier) -> None:
    """Call ``carrier`` at every dispatch of this process (once, however often added)."""
    if carrier not in _carriers:
        _carriers.append(carrier)


def remove_carrier(carrier: Carrier) -> None:
    if carrier in _carriers:
        _carriers.remove(carrier)


def outgoing_headers(task: str, queue: str) -> dict[str, str]:
    """The headers every carrier gives a job about to be dispatched (later ones win)."""
    headers: dict[str, str] = {}
    for carrier in _carriers:
        headers.update(carrier(task, queue) or {})
    return headers


def job_headers(options: Mapping[str, Any]) -> dict[str, str]:
    """The headers a job carries, read from its payload's options: text only (a
    payload is data from the outside, never trusted to hold the right types)."""
    headers = options.get(HEADERS_OPTION)
    if not isinstance(headers, dict):
        return {}
    return {k: v for k, v in headers.items() if isinstance(k, str) and isinstance(v, str)}

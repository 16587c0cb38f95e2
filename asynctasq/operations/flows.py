"""Operations on flows (FlowProducer, canvas): list them newest first, a page at a
time, each with its jobs counted by state. The CLI (``asynctasq flow list``) and the
dashboard's flows page call this.

A page's cursor is the last flow's position (when added, its id), read from the
broker's index there (``Flows.list_flows``): a page deep in a million flows costs what
the first does. The states are counted by the broker where it can (SQL: one query a
flow), else from ``Results.job_outcomes`` (a job the broker forgot, after the result
retention, counts as ``forgotten``).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from asynctasq.drivers.base import Driver
from asynctasq.drivers.capabilities import Flows, Results, require
from asynctasq.drivers.overviews import FORGOTTEN, FlowRecord
from asynctasq.drivers.results import StoredOutcome

__all__ = ["FORGOTTEN", "FlowPage", "decode_flow_cursor", "encode_flow_cursor", "list_flows"]


@dataclass(frozen=True, slots=True)
class FlowPage:
    """Flows as records (``flow_record``), and the cursor of the next page (None:
    the last page)."""

    flows: list[dict[str, Any]]
    next_cursor: str | None


async def list_flows(driver: Driver, *, limit: int = 50, cursor: str | None = None) -> FlowPage:
    """Stored flows newest first: ``limit`` of them from ``cursor`` (a ``next_cursor``
    of an earlier page; ValueError for anything else)."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    flows = require(driver, Flows, "listing flows")
    results = require(driver, Results, "listing flows")
    found = await flows.list_flows(limit=limit + 1, before=decode_flow_cursor(cursor))
    page, more = found[:limit], len(found) > limit
    # the jobs' outcomes, for the flows the broker did not count itself
    unread = [job_id for f in page if f.states is None for job_id, _ in f.jobs]
    outcomes = await results.job_outcomes(unread) if unread else {}
    records = []
    for flow in page:
        states = dict(flow.states) if flow.states is not None else _count(flow, outcomes)
        names = [name for _, name in flow.jobs if name]
        records.append(
            {
                "flow_id": flow.flow_id,
                "created_at": flow.created_at,
                "jobs": len(flow.jobs),
                "states": dict(sorted(states.items())),
                # a flow has no name of its own: its first named job's stands for it
                "name": names[0] if names else None,
            }
        )
    last = page[-1] if page else None
    onward = encode_flow_cursor(last.created_at, last.flow_id) if more and last else None
    return FlowPage(records, onward)


def _count(flow: FlowRecord, outcomes: Mapping[str, StoredOutcome]) -> dict[str, int]:
    states: dict[str, int] = {}
    for job_id, _ in flow.jobs:
        outcome = outcomes.get(job_id)
        state = FORGOTTEN if outcome is None else outcome.state.value
        states[state] = states.get(state, 0) + 1
    return states


def encode_flow_cursor(created_at: float, flow_id: str) -> str:
    return base64.urlsafe_b64encode(f"f{created_at!r}|{flow_id}".encode()).decode().rstrip("=")


def decode_flow_cursor(cursor: str | None) -> tuple[float, str] | None:
    """The (created_at, flow id) of a flow cursor (None for none); ValueError else."""
    if not cursor:
        return None
    invalid = ValueError(f"invalid flow cursor {cursor!r}: pass the next_cursor a listing gave")
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, _, flow_id = text[1:].partition("|")
        when = float(at)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise invalid from None
    if not text.startswith("f") or not flow_id or when != when:  # (NaN)
        raise invalid
    return when, flow_id

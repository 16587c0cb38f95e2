"""The statements the shared SQL driver runs by name exist in every dialect, and
PostgreSQL's declared parameter names match the ``$n`` its text uses."""

from __future__ import annotations

import re

import pytest

from asynctasq.drivers.sql.loader import load_queries, load_signatures

#: what sql/admin.py runs through a dialect's ``statements``
SHARED = (
    "stats",
    "is_paused",
    "queues",
    "get",
    "list_state",
    "list_finished",
    "list_pending",
    "list_all",
    "cancel",
    "requeue",
    "purge_finished",
    "purge_pending",
    "set_paused",
    "set_progress",
    "heartbeat",
    "forget_dead_workers",
    "remove_worker",
    "live_workers",
)


@pytest.mark.parametrize("dialect", ["sqlite", "postgres", "mysql"])
def test_every_dialect_has_the_shared_statements(dialect: str) -> None:
    missing = set(SHARED) - set(load_queries(dialect))
    assert not missing, f"{dialect}/queries.sql lacks {sorted(missing)}"


def test_postgres_declares_the_parameters_of_the_shared_statements() -> None:
    signatures = load_signatures("postgres")
    assert set(SHARED) <= set(signatures)
    queries = load_queries("postgres")
    for name, params in signatures.items():
        used = {int(n) for n in re.findall(r"\$(\d+)", queries[name])}
        assert used == set(range(1, len(params) + 1)), (name, params, sorted(used))
        assert len(set(params)) == len(params), f"{name} names a parameter twice"


def test_a_signature_is_parsed_from_the_name_line() -> None:
    assert load_signatures("postgres")["list_pending"] == (
        "queue",
        "limit",
        "offset",
        "now",
        "future",
    )
    assert load_signatures("postgres")["queues"] == ()
    assert "list_pending" in load_queries("postgres")  # the name, without its parameters

"""Binding :name parameters into the MySQL driver's SQL (no server needed)."""

from __future__ import annotations

import pytest

from asynctasq.drivers.mysql.sqltext import chunk_rows, compile_queries, literal
from asynctasq.drivers.mysql.statements import Q


def escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("'", "\\'")


def test_values_become_literals() -> None:
    assert literal(None, escape) == "NULL"
    assert (literal(True, escape), literal(False, escape)) == ("1", "0")
    assert literal(-7, escape) == "-7"
    assert float(literal(1795500638.4437432, escape)) == 1795500638.4437432
    assert literal("it's", escape) == "'it\\'s'"
    assert literal(b"\x00'\xff", escape) == "X'0027ff'"
    assert literal(["a", 1], escape) == "('a',1)"
    assert literal([], escape) == "(NULL)"
    assert literal([("a", 1), ("b", None)], escape) == "('a',1),('b',NULL)"
    with pytest.raises(ValueError, match="NaN or infinity"):
        literal(float("nan"), escape)
    with pytest.raises(TypeError, match="cannot bind dict"):
        literal({}, escape)


def test_parameters_are_bound_outside_quotes_and_comments_only() -> None:
    (stmt,) = compile_queries(
        {"q": "-- uses :ghost\nSELECT ':not_me', '\\':nor_me', :a FROM t WHERE x IN :ids"}
    ).values()
    assert stmt.params == ("a", "ids")
    sql = stmt.render({"a": "v", "ids": [1, 2]}, escape)
    assert sql == "SELECT ':not_me', '\\':nor_me', 'v' FROM t WHERE x IN (1,2)"
    with pytest.raises(KeyError, match="needs ids"):
        stmt.render({"a": 1}, escape)


def test_every_named_query_compiles() -> None:
    assert {"claim", "apply_outcomes", "insert_jobs", "next_due"} <= set(Q)
    assert Q["claim"].params == ("queue", "now", "queue", "limit")
    assert "JSON_TABLE" in "".join(Q["apply_outcomes"].parts)


def test_bulk_rows_are_split_to_fit_a_packet() -> None:
    rows = [literal(("id", b"x" * 100), escape) for _ in range(100)]
    chunks = chunk_rows(rows, max_bytes=2_000)
    assert sum(chunk.count("),(") + 1 for chunk in chunks) == 100
    assert all(len(chunk) <= 2_000 for chunk in chunks)
    assert literal(chunks[0], escape) == chunks[0]  # bound as is
    huge = literal(("huge", b"x" * 10_000), escape)
    assert chunk_rows([huge], max_bytes=2_000) == [huge]


def test_a_batch_of_statements_is_split_into_requests_that_fit() -> None:
    from asynctasq.drivers.mysql.session import _group

    statements = ["a" * 40, "b" * 40, "c" * 40, "d" * 200, "e"]
    assert _group(statements, 100) == [["a" * 40, "b" * 40], ["c" * 40], ["d" * 200], ["e"]]

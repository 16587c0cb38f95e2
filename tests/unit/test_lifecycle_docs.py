"""docs/concepts.md shows the lifecycle table as asynctasq/lifecycle.py defines it."""

from __future__ import annotations

import re
from pathlib import Path

from asynctasq import lifecycle

CONCEPTS = Path(__file__).resolve().parents[2] / "docs" / "concepts.md"
BLOCK = re.compile(r"<!-- lifecycle:begin[^\n]*-->\n(.*?)<!-- lifecycle:end -->", re.S)


def test_concepts_shows_the_lifecycle_table_as_defined() -> None:
    found = BLOCK.search(CONCEPTS.read_text())
    assert found, "docs/concepts.md lost its lifecycle block (lifecycle:begin ... end)"
    assert found.group(1) == lifecycle.document(), (
        "docs/concepts.md is out of step with asynctasq/lifecycle.py: paste the output "
        "of `python -m asynctasq.lifecycle` between the lifecycle markers"
    )


def test_every_transition_is_a_row_and_an_arrow() -> None:
    rows = lifecycle.table_markdown().splitlines()[2:]
    assert len(rows) == len(lifecycle.TRANSITIONS)
    arrows = lifecycle.mermaid().splitlines()[1:]
    for row in lifecycle.TRANSITIONS:
        source = "[*]" if row.source is None else row.source.value
        target = "[*]" if row.target is None else row.target.value
        assert f"    {source} --> {target}: {row.event.value}" in arrows

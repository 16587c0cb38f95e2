"""Redaction runs on every error text, so hostile text must not make it slow.

Each input is a megabyte shaped to make a backtracking pattern quadratic (a 1 MB
exception message once took hours to redact and stalled a worker's shutdown). The bound
is generous: it separates linear (well under a second) from quadratic (hours).
"""

from __future__ import annotations

import time

import pytest

from asynctasq.redaction import redact

MB = 1_000_000

HOSTILE = {
    "one long word": "m" * MB,
    "a word repeating a secret name": "password" * (MB // 8),
    "schemes without credentials": "ab://" * (MB // 5),
    "schemes then one @": "ab://" * (MB // 5) + "@",
    "a scheme then colons": "x://" + "a:" * (MB // 2),
    "assignments": "a=" * (MB // 2),
    "quoted secret names": "'password': '" * (MB // 13),
    "at signs": "@" * MB,
    "slashes and at signs": "a:///@" * (MB // 6),
}


@pytest.mark.parametrize("text", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_megabyte_of_hostile_text_is_redacted_in_linear_time(text: str) -> None:
    started = time.perf_counter()
    redact(text)
    assert time.perf_counter() - started < 10


def test_the_scan_still_hides_every_url_password() -> None:
    text = "postgresql://u:p@ss@h/db redis://:pw@h:6379/0 ab://ab://x:y@z http://h/p@x"
    assert redact(text) == (
        "postgresql://u:***@h/db redis://:***@h:6379/0 ab://ab:***@z http://h/p@x"
    )

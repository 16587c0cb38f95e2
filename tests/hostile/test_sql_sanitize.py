"""sanitize_text: any text becomes text every broker can store, within its size, and
sanitising twice changes nothing (a worker id stored sanitised still matches)."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from asynctasq.drivers.sanitize import ERROR_TEXT_MAX_CHARS, sanitize_text

# any code point, lone surrogates and NUL included
ANY_TEXT = st.text(st.characters(codec=None, min_codepoint=0, max_codepoint=0x10FFFF))


@given(ANY_TEXT, st.integers(min_value=1, max_value=300), st.booleans())
def test_any_text_becomes_storable_within_its_size(text: str, max_chars: int, nul: bool) -> None:
    clean = sanitize_text(text, max_chars=max_chars, allow_nul=nul)
    assert len(clean) <= max_chars
    clean.encode("utf-8")  # no lone surrogate left
    assert nul or "\x00" not in clean
    assert sanitize_text(clean, max_chars=max_chars, allow_nul=nul) == clean


@given(ANY_TEXT)
def test_text_that_fits_keeps_every_character_it_can(text: str) -> None:
    clean = sanitize_text(text, max_chars=10_000, allow_nul=False)
    assert len(clean) == len(text)
    for before, after in zip(text, clean, strict=True):
        assert after == before or after == "\ufffd"


def test_plain_text_comes_back_as_the_same_object() -> None:
    text = "ValueError: plain\n\nTraceback (most recent call last): ..."
    assert sanitize_text(text, max_chars=1000, allow_nul=False) is text


def test_long_text_keeps_its_head_and_its_tail() -> None:
    text = "ValueError: start " + "x" * 200_000 + "\n  File 'job.py', line 3\nfinish"
    clean = sanitize_text(text, max_chars=ERROR_TEXT_MAX_CHARS, allow_nul=False)
    assert len(clean) == ERROR_TEXT_MAX_CHARS
    assert clean.startswith("ValueError: start xxx") and clean.endswith("line 3\nfinish")
    marker = re.search(r"\n\.\.\. \[(\d+) characters cut\] \.\.\.\n", clean)
    assert marker is not None
    assert int(marker[1]) == len(text) - (len(clean) - len(marker[0]))


def test_a_size_too_small_for_the_marker_keeps_the_head() -> None:
    assert sanitize_text("abcdefghij", max_chars=3, allow_nul=False) == "abc"
    assert sanitize_text("a\x00\ud800b", max_chars=10, allow_nul=True) == "a\x00\ufffdb"

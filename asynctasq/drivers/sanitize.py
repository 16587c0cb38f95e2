"""Text a broker can store: what every driver does to a string before writing it.

Strings reach a broker from places nobody controls: an exception message (a NUL byte,
half of a surrogate pair, bytes decoded with ``surrogateescape``, a megabyte of
repr), a worker id from a command line. A broker that refuses one of them must not
refuse the batch it travels in, so drivers store the nearest text the broker accepts:

- a surrogate pair (text decoded with ``surrogatepass``) becomes its character, and a
  lone surrogate (never valid UTF-8) becomes U+FFFD, the replacement character;
- NUL becomes U+FFFD where the broker refuses it (PostgreSQL ``text``), or on request;
- text longer than ``max_chars`` keeps its head and its tail (an exception's type and
  message are at the start of a traceback, the failing frame at its end) around a
  marker saying how many characters were cut.

The result is never longer than ``max_chars``, and sanitising it again changes nothing,
so a value stored sanitised (a worker id) still matches the same value sanitised again.
"""

from __future__ import annotations

__all__ = ["ERROR_TEXT_MAX_CHARS", "MAX_ERROR_CHARS", "sanitize_text"]

#: error text (an exception and its traceback) a broker stores, at most
ERROR_TEXT_MAX_CHARS = 65_536
MAX_ERROR_CHARS = ERROR_TEXT_MAX_CHARS

REPLACEMENT = "\ufffd"


def sanitize_text(text: str, *, max_chars: int, allow_nul: bool) -> str:
    """``text`` as a broker can store it (see the module's docstring)."""
    if not allow_nul and "\x00" in text:
        text = text.replace("\x00", REPLACEMENT)
    if not text.isascii():  # ASCII (the usual text) cannot hold a surrogate
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            # through UTF-16, which joins the surrogates that make a pair
            text = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    if len(text) > max_chars:
        text = _cut(text, max_chars)
    return text


def _cut(text: str, max_chars: int) -> str:
    cut = len(text) - max_chars
    while True:
        marker = f"\n... [{cut} characters cut] ...\n"
        keep = max_chars - len(marker)
        if keep < 2:  # too small for a marker: the head alone
            return text[:max_chars]
        if len(text) - keep == cut:
            break
        cut = len(text) - keep  # the marker's own length changed what is cut
    head = keep - keep // 2
    return f"{text[:head]}{marker}{text[len(text) - keep // 2 :]}"

"""One redaction function for every text asynctasq lets out of the process.

Logs, events, the error text stored with a failed job, CLI output and the reprs and
errors of drivers all pass configuration or exceptions through ``redact``. It hides:

- the password of any URL, ``scheme://user:password@host`` (the user stays): the
  password runs to the *last* ``@`` of the URL, so one that holds ``@``, ``:``,
  ``/``, ``?``, ``#`` or ``%`` is hidden whole, and so are the passwords of
  multi-host URLs;
- the value of every credential parameter, in URL queries (``?password=...``),
  libpq key=value DSNs (``host=db password=secret``, quoted values too) and
  dict-like text (``'password': '...'``, JSON): any name containing password,
  passwd, passphrase, secret, token, api_key/apikey, access_key, private_key,
  credential, signature or authorization, and the names pass, pwd, auth, sig and
  key, in any case;
- the scheme and credentials of an ``Authorization:`` header.

What it cannot see: a password written raw (not percent-encoded) with a space or a
quote in a URL inside free text, and secrets that are not shaped like the above.
"""

from __future__ import annotations

import re

__all__ = ["REDACTED", "redact"]

REDACTED = "***"

# a name of a credential parameter (matched whole: "unique_key" is not "key")
# Linear time on any input: the name starts only at a word boundary, the look-ahead
# finds a secret word inside the word, and the word is then taken possessively, so a
# failed match never backtracks through it (a word of a million characters that
# repeats "password" made the lazy form quadratic).
_SECRET_NAME = (
    r"(?<![\w.\-])(?:(?=[\w.\-]*?(?:password|passwd|passphrase|secret|token|api[_\-]?key"
    r"|access[_\-]?key|private[_\-]?key|credential|signature|authorization))[\w.\-]++"
    r"|(?:pass|pwd|auth|sig|key)(?![\w.\-]))"
)
_QUOTED = r"'(?:[^'\\]|\\.)*'|\"(?:[^\"\\]|\\.)*\""

_PATTERN = re.compile(
    # name=value (URL query, libpq DSN, key=value logs); a quoted value whole
    rf"(?P<assign>{_SECRET_NAME}\s*=\s*)(?:{_QUOTED}|[^\s&;,'\"()\[\]{{}}<>]+)"
    # 'name': 'value' and "name": "value" (reprs of dicts, JSON)
    rf"|(?P<mapping>(?P<q>['\"]){_SECRET_NAME}(?P=q)\s*:\s*)(?:{_QUOTED})"
    # an Authorization header: its scheme and credentials
    r"|(?P<header>\bauthorization\s*:\s*)[^\r\n'\"]+",
    re.IGNORECASE,
)

# URLs are found by a scan rather than one regular expression: the password runs to the
# *last* @ before a space, and a regex that backtracks to find it is quadratic on a
# long run without spaces (a megabyte of "ab://ab://..." took hours).
_SCHEME = re.compile(r"(?<![A-Za-z0-9+.\-])[A-Za-z][A-Za-z0-9+.\-]*+://")
_USER = re.compile(r"[^\s:/?#@'\"<>]*+:")
_BREAK = re.compile(r"[\s<>]")


def _redact_urls(text: str) -> str:
    if "://" not in text:
        return text
    parts: list[str] = []
    done = search = 0
    run_end = last_at = -1  # the current run without spaces, and its last "@"
    while (scheme := _SCHEME.search(text, search)) is not None:
        start = scheme.end()
        if start > run_end:
            brk = _BREAK.search(text, start)
            run_end = brk.start() if brk else len(text)
            last_at = text.rfind("@", start, run_end)
        user = _USER.match(text, start)
        if last_at < start:  # no credentials in the rest of this run
            search = run_end
        elif user is None or user.end() > last_at:
            search = start
        else:
            parts += (text[done : user.end()], REDACTED)
            done = search = last_at
    parts.append(text[done:])
    return "".join(parts)


def _replace(match: re.Match[str]) -> str:
    if match["assign"] is not None:
        return f"{match['assign']}{REDACTED}"
    if match["mapping"] is not None:
        return f"{match['mapping']}{match['q']}{REDACTED}{match['q']}"
    return f"{match['header']}{REDACTED}"


def redact(text: str) -> str:
    """``text`` with every credential it shows replaced by ``***``."""
    return _PATTERN.sub(_replace, _redact_urls(text))

"""The page frame and the small helpers every view writes HTML with.

Every value that comes from a job, a queue, a worker or an error passes through
``esc`` (html.escape, quotes included): task names, arguments and tracebacks are
written by whoever enqueued the job, and must render as text, never as markup.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

__all__ = ["age", "button", "esc", "link", "page", "path", "table", "when"]


def esc(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def path(*parts: str, **query: Any) -> str:
    """A relative URL below the mount point: each part percent-encoded."""
    url = "/".join(quote(p, safe="") for p in parts)
    kept = {k: v for k, v in query.items() if v not in (None, "")}
    return url + ("?" + urlencode(kept) if kept else "")


def link(root: str, text: Any, *parts: str, **query: Any) -> str:
    return f'<a href="{esc(root + path(*parts, **query))}">{esc(text)}</a>'


def age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.1f}s"


def when(stamp: float | None) -> str:
    if stamp is None:
        return "-"
    text = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))
    return f'<time datetime="{stamp}">{esc(text)}</time>'


def table(headers: Iterable[str], rows: Iterable[Iterable[str]], empty: str = "None") -> str:
    """``rows`` are cells of HTML already escaped by the caller."""
    head = "".join(f'<th scope="col">{esc(h)}</th>' for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    if not body:
        return f'<p class="empty">{esc(empty)}</p>'
    grid = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    return f'<div class="scroll">{grid}</div>'


def button(
    action: str, label: str, csrf: str, *, confirm: str, fields: dict[str, str] | None = None
) -> str:
    """A POST form of one button, confirmed in the browser before it is sent."""
    hidden = "".join(
        f'<input type="hidden" name="{esc(k)}" value="{esc(v)}">'
        for k, v in {"csrf": csrf, **(fields or {})}.items()
    )
    return (
        f'<form method="post" action="{esc(action)}" class="action" data-confirm="{esc(confirm)}">'
        f'{hidden}<button type="submit">{esc(label)}</button></form>'
    )


NAV = (
    ("", "Overview"),
    ("workers", "Workers"),
    ("dead-letters", "Dead letters"),
    ("flows", "Flows"),
    ("schedules", "Schedules"),
)


def page(root: str, title: str, body: str, *, message: str | None = None, live: bool) -> str:
    nav = "".join(f'<a href="{esc(root + target)}">{esc(text)}</a>' for target, text in NAV)
    note = f'<p class="message" role="status">{esc(message)}</p>' if message else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>{esc(title)} · asynctasq</title>
<link rel="stylesheet" href="{esc(root)}static/dashboard.css">
<script src="{esc(root)}static/dashboard.js" defer></script>
</head><body data-root="{esc(root)}" data-live="{"on" if live else "off"}">
<header><a class="brand" href="{esc(root)}">asynctasq</a><nav>{nav}</nav>
<span id="live" aria-live="polite"></span></header>
<main id="main"><h1>{esc(title)}</h1>{note}{body}</main>
</body></html>"""

"""Garbage collection paused while a worker process starts.

Starting a worker creates some 60,000 objects that live as long as the process
(modules, classes, functions: asynctasq's, redis-py's, the application's tasks) and
almost no garbage: 599 unreachable objects after a Redis worker's imports. CPython's
collector still runs over and over while they are made, each full pass walking all
of them: 9 to 13 ms of a Redis worker's 150 to 160 ms from launch to its first job
(docs/benchmarks.md, "On the machine of 2026-12-07, night").

So the process entry points (``python -m asynctasq``, the ``asynctasq`` console
script) pause the collector first thing (``pause()``), and it resumes (``resume()``)
once start-up is over: when a worker sends its first claim; for the ``--processes``
supervisor, before it starts its children; for every other command, once the command
line is parsed. Resuming freezes what start-up made (``gc.freeze()``, as before a
fork): those objects are never walked again, so the collections the worker makes
later are as short as they would have been without them, and nothing start-up made
is swept in one long pause after the first job. The few cyclic leftovers of the
imports stay with them, a bounded amount paid once.

A program that embeds the worker never called ``pause()``: ``resume()`` does nothing
there.
"""

from __future__ import annotations

import gc

__all__ = ["pause", "paused", "resume"]

_paused = False


def pause() -> None:
    """Stop the collector until ``resume()`` (only if it runs: a program that turned it
    off keeps it off)."""
    global _paused
    if gc.isenabled():
        gc.disable()
        _paused = True


def paused() -> bool:
    return _paused


def resume() -> None:
    """Freeze what start-up made and run the collector again, if ``pause()`` stopped
    it; otherwise nothing (cheap enough to call after every claim)."""
    global _paused
    if _paused:
        _paused = False
        gc.freeze()
        gc.enable()

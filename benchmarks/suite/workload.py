"""The job bodies every system runs, so each one does exactly the same work.

A job records that it ran by appending one fixed-width line (its finishing time) to
the file named by ``BENCH_MARKS``: a local write of a few microseconds, no broker
round trip, readable across processes. The runner counts lines by file size.
"""

from __future__ import annotations

import os
import time

MARKS_ENV = "BENCH_MARKS"
#: "1700000000.123456\n": ten digits, a dot, six digits and a newline
MARK_WIDTH = 18
#: the I/O-bound job awaits (or sleeps) this long
IO_SECONDS = 0.010
#: iterations of the CPU-bound loop: about 5 ms of pure Python on a 2020s x86 core
CPU_LOOPS = 110_000

_fd: tuple[int, int] | None = None  # (pid, fd): a forked child opens its own


def mark() -> None:
    global _fd
    pid = os.getpid()
    if _fd is None or _fd[0] != pid:
        path = os.environ[MARKS_ENV]
        _fd = (pid, os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
    # one write() of a short line on an O_APPEND descriptor is atomic across
    # threads and processes, so concurrent jobs never interleave their lines
    os.write(_fd[1], b"%17.6f\n" % time.time())


def burn() -> int:
    """A fixed amount of pure-Python work (holds the GIL throughout)."""
    total = 0
    for i in range(CPU_LOOPS):
        total += i * i
    return total


def count_marks(path: str) -> int:
    try:
        return os.stat(path).st_size // MARK_WIDTH
    except FileNotFoundError:
        return 0


def read_marks(path: str) -> list[float]:
    try:
        with open(path, "rb") as f:
            return [float(line) for line in f.read().split()]
    except FileNotFoundError:
        return []


def last_mark(path: str) -> float:
    with open(path, "rb") as f:
        f.seek(-MARK_WIDTH, os.SEEK_END)
        return float(f.read(MARK_WIDTH))

"""The jobs ready to claim in one queue of the memory broker, in claim order: lowest
priority, then oldest run_at, then id (the claim row of the lifecycle table).

A heap of them cost a few dozen tuple comparisons per claimed job (each comparing a
priority, a run_at and an id, over a heap as large as the queue): the largest
single cost of a memory-broker drain. Most entries come in order, or nearly: a
batch of dispatches shares its priority and run_at, and later batches come after
it. So entries are gathered as they come, sorted together (at C speed) when the
queue is next looked at, and those that come after the sorted run's last entry are
appended to it; the others (a retry come due, a higher priority) go to a heap
beside it. The head of the queue is the smaller of the two heads.
"""

from __future__ import annotations

import heapq
from bisect import bisect_right
from collections.abc import Mapping

__all__ = ["Entry", "ReadyQueue"]

#: (priority, run_at, job id, version): an entry goes stale when its job's version moves on
Entry = tuple[int, float, str, int]

#: entries taken off the front of the sorted run before its list is shortened
_COMPACT_AFTER = 4096


class ReadyQueue:
    __slots__ = ("_head", "_heap", "_new", "_run")

    def __init__(self) -> None:
        self._run: list[Entry] = []  # sorted; entries before _head are taken
        self._head = 0
        self._heap: list[Entry] = []
        self._new: list[Entry] = []  # pushed since the queue was last looked at

    def push(self, entry: Entry) -> None:
        self._new.append(entry)

    def peek(self) -> Entry | None:
        """The first entry in claim order (None: empty), left in the queue."""
        if self._new:
            self._sort_in()
        run, head, heap = self._run, self._head, self._heap
        if head < len(run):
            first = run[head]
            return heap[0] if heap and heap[0] < first else first
        return heap[0] if heap else None

    def pop(self) -> Entry:
        """Take the entry ``peek`` gave (IndexError when empty)."""
        if self._new:
            self._sort_in()
        run, head, heap = self._run, self._head, self._heap
        if head < len(run) and not (heap and heap[0] < run[head]):
            entry = run[head]
            head += 1
            if head >= _COMPACT_AFTER and 2 * head >= len(run):  # free what was taken
                del run[:head]
                head = 0
            self._head = head
            return entry
        return heapq.heappop(heap)

    def take(self, limit: int, versions: Mapping[str, int]) -> list[Entry]:
        """Up to ``limit`` entries taken off the front, in claim order: what ``pop``
        after ``peek`` gives, one call for a whole claim. Entries gone stale (their
        job's version in ``versions`` moved on) are dropped on the way."""
        if self._new:
            self._sort_in()
        run, head, heap = self._run, self._head, self._heap
        end = len(run)
        taken: list[Entry] = []
        while len(taken) < limit:
            if head < end and not (heap and heap[0] < run[head]):
                entry = run[head]
                head += 1
            elif heap:
                entry = heapq.heappop(heap)
            else:
                break
            if versions.get(entry[2]) == entry[3]:
                taken.append(entry)
        if head >= _COMPACT_AFTER and 2 * head >= end:  # free what was taken
            del run[:head]
            head = 0
        self._head = head
        return taken

    def _sort_in(self) -> None:
        new = sorted(self._new)
        self._new = []
        run = self._run
        if self._head >= len(run):  # all taken: the new entries start the run
            run.clear()
            self._head = 0
        cut = bisect_right(new, run[-1]) if run else 0  # new[:cut] come before its end
        for entry in new[:cut]:
            heapq.heappush(self._heap, entry)
        run.extend(new[cut:] if cut else new)

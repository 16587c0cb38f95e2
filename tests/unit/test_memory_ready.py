"""The memory broker's ready queue gives entries in claim order (priority, run_at,
id), whatever order they were pushed in and however pushes and takes interleave:
checked against a heap, the structure it replaced."""

from __future__ import annotations

import heapq

from hypothesis import given
from hypothesis import strategies as st

from asynctasq.drivers.memory_ready import Entry, ReadyQueue

_entries = st.tuples(
    st.integers(-2, 2), st.sampled_from([0.0, 1.0, 1.5, 2.0]), st.text("abc", max_size=3)
)
# each step: push a batch of entries, then take some
_steps = st.lists(st.tuples(st.lists(_entries, max_size=12), st.integers(0, 10)), max_size=20)


@given(_steps)
def test_entries_come_out_in_claim_order(
    steps: list[tuple[list[tuple[int, float, str]], int]],
) -> None:
    queue = ReadyQueue()
    heap: list[Entry] = []
    version = 0
    for batch, takes in steps:
        for priority, run_at, job_id in batch:
            version += 1  # unique, as the broker's versions are per job
            entry: Entry = (priority, run_at, job_id, version)
            queue.push(entry)
            heapq.heappush(heap, entry)
        for _ in range(takes):
            expected = heap[0] if heap else None
            assert queue.peek() == expected
            if expected is None:
                break
            assert queue.pop() == heapq.heappop(heap)
    while heap:
        assert queue.pop() == heapq.heappop(heap)
    assert queue.peek() is None


def test_a_long_run_is_compacted_as_it_is_taken() -> None:
    queue = ReadyQueue()
    for i in range(20_000):
        queue.push((0, float(i), f"{i:08d}", 1))
    assert [queue.pop()[1] for _ in range(15_000)] == [float(i) for i in range(15_000)]
    assert len(queue._run) < 20_000  # the taken front was let go
    queue.push((0, 0.5, "x", 1))  # before the run's end: beside it, still first
    assert queue.pop() == (0, 0.5, "x", 1)
    assert queue.pop() == (0, 15_000.0, "00015000", 1)


@given(_steps, st.sets(st.integers(1, 240)))
def test_take_gives_what_peek_and_pop_give_without_the_stale(
    steps: list[tuple[list[tuple[int, float, str]], int]], stale: set[int]
) -> None:
    """A claim of one queue takes its entries at once: the same ones, in the same
    order, as one by one, those gone stale (version moved on) left out."""
    queue = ReadyQueue()
    heap: list[Entry] = []
    versions: dict[str, int] = {}
    version = 0
    for batch, takes in steps:
        for priority, run_at, job_id in batch:
            version += 1
            entry: Entry = (priority, run_at, f"{job_id}-{version}", version)
            queue.push(entry)
            heapq.heappush(heap, entry)
            versions[entry[2]] = version + 1 if version in stale else version
        expected: list[Entry] = []
        while heap and len(expected) < takes:
            entry = heapq.heappop(heap)
            if versions[entry[2]] == entry[3]:
                expected.append(entry)
        assert queue.take(takes, versions) == expected
    assert queue.take(10_000, versions) == [e for e in sorted(heap) if versions[e[2]] == e[3]]

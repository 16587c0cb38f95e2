"""A batch of outcomes as the JSON rows ``apply_outcomes`` joins with ``JSON_TABLE``:
one row per outcome with its own error, result or run time, split so each statement
fits in one MySQL packet. Error texts arrive capped (storable.py), so a row fits too."""

from __future__ import annotations

import base64
import json
import math
from typing import Any

from asynctasq.jobs import Completed, Failed, Outcome, Released, Retried

__all__ = ["OutcomeRows"]


class OutcomeRows:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._chunks: list[list[dict[str, Any]]] = []
        self._size = max_bytes

    def add(self, outcome: Outcome) -> None:
        entry = self._entry(outcome)
        size = 120 + 4 * len(entry.get("error", "")) + len(entry.get("result", ""))
        if self._size + size > self.max_bytes:
            self._chunks.append([])
            self._size = 0
        self._chunks[-1].append(entry)
        self._size += size

    def statements(self) -> list[tuple[str, list[str]]]:
        """Each chunk as (the JSON array, the ids it holds)."""
        return [(json.dumps(chunk), [entry["id"] for entry in chunk]) for chunk in self._chunks]

    def _entry(self, outcome: Outcome) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "id": outcome.job_id,
            "worker_id": outcome.worker_id,
            "attempt": outcome.attempt,
        }
        match outcome:
            case Completed(result=result):
                entry["kind"] = "complete"
                if result is not None:
                    encoded = base64.b64encode(result).decode("ascii")
                    if len(encoded) > self.max_bytes:  # never a batch that cannot be sent
                        entry["kind"] = "fail"
                        entry["error"] = (
                            f"ResultTooLarge: the {len(result)}-byte result does not fit in "
                            "one MySQL packet (raise max_allowed_packet, or store large "
                            "results elsewhere and return a reference)"
                        )
                        return entry
                    entry["result"] = encoded
            case Retried(run_at=run_at, error=error):
                if not math.isfinite(run_at):
                    raise ValueError(f"retry of job {outcome.job_id} has no valid run_at")
                entry.update(kind="retry", run_at=run_at, error=error)
            case Failed(error=error):
                entry.update(kind="fail", error=error)
            case Released(run_at=run_at):
                entry["kind"] = "release"
                if run_at is not None:  # due then (a rate limit's next token), else at once
                    entry["run_at"] = run_at
            case _:
                raise TypeError(f"unknown outcome {outcome!r}")
        return entry

"""Figures gathered across runs: the median with min and max per system and scenario,
and the asynctasq/peer ratio. Saved as JSON so tables and charts can be rebuilt
without measuring again (``--from-json``)."""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.peers import ENTRIES
from benchmarks.suite.plan import BY_KEY

LATENCY_PERCENTILES = (50, 95, 99)


def percentile(values: list[float], q: float) -> float:
    """Nearest rank: the value below which q% of the samples fall."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered)) - 1))]


@dataclass
class Summary:
    median: float
    low: float
    high: float
    runs: int
    #: the run stopped at its time cap before all jobs finished (see plan.py)
    capped: bool = False
    #: jobs (or latency probes) measured per run, and of how many planned
    done: list[int] = field(default_factory=list)
    planned: int = 0


@dataclass
class Results:
    command: str = ""
    machine: dict[str, Any] = field(default_factory=dict)
    budget: dict[str, Any] = field(default_factory=dict)
    #: system -> what its runner described (version, settings, capabilities)
    systems: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: system -> why it did not run
    skipped: dict[str, str] = field(default_factory=dict)
    #: system -> scenario key -> one dict per run: value, capped, done, of
    samples: dict[str, dict[str, list[dict[str, Any]]]] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)
    #: scenario keys copied from another step, e.g. drain_best when best is 10
    aliases: dict[str, dict[str, str]] = field(default_factory=dict)
    #: system -> step key -> wall seconds per run, set-up and reset included
    timings: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    #: figures of asynctasq alone (benchmarks/suite/extras.py): key -> one per run
    extras: dict[str, list[float]] = field(default_factory=dict)

    # -- gathering -------------------------------------------------------------------

    def add(self, system: str, run: int, event: dict[str, Any]) -> None:
        key = event["key"]
        if event["event"] == "timing":
            self.timings.setdefault(system, {}).setdefault(key, []).append(event["seconds"])
            return
        if event["event"] == "error":
            self.errors.append({"system": system, "run": run, **event})
            return
        if key == "latency":
            self._add_latency(system, event)
            return
        self._sample(system, key, event["value"], event)
        if "rss_mib" in event:
            self._sample(system, "rss_peak", event["rss_mib"], {})

    def _add_latency(self, system: str, event: dict[str, Any]) -> None:
        for phase in ("start", "done"):
            values = event[f"{phase}_ms"]
            if not values:
                continue
            for q in LATENCY_PERCENTILES:
                info = {"done": len(values), "of": event["of"]}
                self._sample(system, f"latency_{phase}_p{q}", percentile(values, q), info)

    def _sample(self, system: str, key: str, value: float, info: dict[str, Any]) -> None:
        entry: dict[str, Any] = {"value": value}
        entry.update((k, info[k]) for k in ("capped", "done", "of", "phases") if k in info)
        self.samples.setdefault(system, {}).setdefault(key, []).append(entry)

    def alias(self, system: str, key: str, source: str) -> None:
        """Report ``source``'s figures under ``key`` too (same measurement)."""
        self.aliases.setdefault(system, {})[key] = source

    # -- reading ---------------------------------------------------------------------

    def summary(self, system: str, key: str) -> Summary | None:
        source = self.aliases.get(system, {}).get(key, key)
        runs = self.samples.get(system, {}).get(source)
        if not runs:
            return None
        values = [r["value"] for r in runs]
        return Summary(
            median=statistics.median(values),
            low=min(values),
            high=max(values),
            runs=len(values),
            capped=any(r.get("capped") for r in runs),
            done=[r["done"] for r in runs if "done" in r],
            planned=max((r.get("of", 0) for r in runs), default=0),
        )

    def ours_for(self, broker: str) -> str | None:
        """The asynctasq system on ``broker`` peers are compared with."""
        for name, entry in ENTRIES.items():
            if entry.ours and entry.broker == broker and name in self.systems:
                return name
        return None

    def ratio(self, system: str, key: str) -> float | None:
        """asynctasq / this peer, medians of the same sitting (None if either is missing)."""
        entry = ENTRIES[system]
        ours = self.ours_for(entry.broker)
        if entry.ours or ours is None:
            return None
        mine, theirs = self.summary(ours, key), self.summary(system, key)
        if mine is None or theirs is None or theirs.median == 0:
            return None
        return mine.median / theirs.median

    @staticmethod
    def ours_better(key: str, ratio: float) -> bool:
        return ratio > 1 if BY_KEY[key].better == "higher" else ratio < 1

    def ordered_systems(self, broker: str | None = None) -> list[str]:
        return [
            name
            for name, entry in ENTRIES.items()
            if name in self.systems and (broker is None or entry.broker == broker)
        ]

    def brokers(self) -> list[str]:
        return list(dict.fromkeys(ENTRIES[name].broker for name in self.ordered_systems()))

    # -- persistence -----------------------------------------------------------------

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.__dict__, indent=1))

    @classmethod
    def load(cls, path: Path) -> Results:
        return cls(**json.loads(path.read_text()))

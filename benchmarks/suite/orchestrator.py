"""Runs the suite: checks what can run, builds the peers' virtualenvs, then for each
run, each system in turn, starts its runner and gathers the figures it reports."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from asynctasq.config import redact_url
from asynctasq.core.driver_factory import DriverFactory
from benchmarks.peers import ENTRIES, Entry
from benchmarks.suite import plan, venvs
from benchmarks.suite.machine import describe_machine
from benchmarks.suite.results import Results

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Options:
    systems: list[str]
    budget: plan.Budget
    redis_url: str
    postgres_dsn: str
    workdir: Path
    install: bool = True
    #: concurrencies to sweep instead of running the scenarios
    sweep: list[int] | None = None


class Suite:
    def __init__(self, options: Options, console: Console) -> None:
        self.options = options
        self.console = console
        self.token = secrets.token_hex(3)
        self.results = Results(budget=options.budget.as_dict())
        self.python: dict[str, Path] = {}

    # -- preparing -------------------------------------------------------------------

    def prepare(self) -> list[str]:
        """Which systems can run; the others land in results.skipped with the reason."""
        opts = self.options
        machine = describe_machine(f"{opts.redis_url}/0", f"{opts.postgres_dsn}/postgres")
        self.results.machine = machine.as_dict()
        candidates = []
        for name in opts.systems:
            entry = ENTRIES[name]
            why = self._unavailable(entry, machine.redis, machine.postgres)
            if why:
                self.skip(name, why)
            else:
                candidates.append(name)
        groups = {ENTRIES[n].venv for n in candidates if not ENTRIES[n].ours}
        status = self._build_venvs(sorted(g for g in groups if g))
        ready = []
        for name in candidates:
            entry = ENTRIES[name]
            if entry.venv is not None and status.get(entry.venv):
                self.skip(name, str(status[entry.venv]))
                continue
            self.python[name] = venvs.python_of(entry.venv) if entry.venv else Path(sys.executable)
            described = self._describe(name)
            if described is not None:
                self.results.systems[name] = described
                ready.append(name)
        return ready

    def _unavailable(self, entry: Entry, redis_version: str, pg_version: str) -> str | None:
        if entry.driver:
            try:
                DriverFactory.driver_class(entry.driver)
            except (ImportError, AttributeError, ValueError) as exc:
                return f"the asynctasq {entry.driver} driver does not load here ({exc})"
        if entry.broker == "redis" and redis_version.startswith("unreachable"):
            return f"Redis is {redis_version}"
        if entry.broker == "postgres" and pg_version.startswith("unreachable"):
            return f"PostgreSQL is {pg_version}"
        if entry.venv and not self.options.install and not venvs.python_of(entry.venv).exists():
            return f"benchmarks/.venv-peers/{entry.venv} is missing (--no-install)"
        return None

    def _build_venvs(self, groups: list[str]) -> dict[str, str | None]:
        if not self.options.install:
            return dict.fromkeys(groups)
        stale = [g for g in groups if not venvs.is_current(g, venvs.read_groups().get(g, []))]
        if stale:
            self.console.print(f"installing peers into benchmarks/.venv-peers/: {', '.join(stale)}")
        started = time.monotonic()
        status = venvs.ensure(groups, lambda g, err: self.console.print(
            f"  {g}: " + ("ready" if err is None else f"[red]failed[/]: {escape(err)}")
        ))  # fmt: skip
        if stale:
            self.console.print(f"peers installed in {time.monotonic() - started:.0f}s")
        return status

    def _describe(self, name: str) -> dict[str, Any] | None:
        done = subprocess.run(
            [str(self.python[name]), "-m", "benchmarks.suite.runner", "--system", name,
             "--describe"],
            cwd=ROOT, env=self.env(name), capture_output=True, text=True, timeout=120,
            check=False,
        )  # fmt: skip
        for line in done.stdout.splitlines():
            if line.startswith('{"event": "describe"'):
                event: dict[str, Any] = json.loads(line)
                event.pop("event")
                return event
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        self.skip(name, f"its adapter does not load: {tail}")
        return None

    def skip(self, name: str, why: str) -> None:
        self.results.skipped[name] = why
        self.console.print(f"[yellow]skipping {name}[/]: {escape(why)}")

    def env(self, name: str) -> dict[str, str]:
        entry, opts = ENTRIES[name], self.options
        env = {**os.environ, "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1"}
        db = entry.redis_db if entry.redis_db is not None else 0
        env["BENCH_REDIS_URL"] = f"{opts.redis_url}/{db}"
        database = "postgres" if entry.ours else f"bench_{name.replace('-', '_')}_{self.token}"
        env["BENCH_PG_DSN"] = f"{opts.postgres_dsn}/{database}"
        return env

    # -- running ---------------------------------------------------------------------

    def steps(self, name: str) -> list[dict[str, Any]]:
        if self.options.sweep:
            return plan.sweep_steps(self.options.sweep, self.options.budget)
        steps = plan.steps(self.results.systems[name], self.options.budget)
        for step in steps:
            earlier = self.results.summary(name, step["key"])
            if step["op"] == "drain" and earlier is not None:
                step["hint"] = earlier.median  # sizes the queue: see Runner.drain_size
        return steps

    def run(self, systems: list[str]) -> Results:
        runs = self.options.budget.runs
        total = runs * sum(len(self.steps(s)) for s in systems)
        progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
        )
        with progress:
            overall = progress.add_task("all steps", total=total)
            current = progress.add_task("", total=1)
            for run in range(1, runs + 1):
                for name in systems:
                    started = time.monotonic()
                    self._run_one(name, run, progress, overall, current)
                    progress.console.print(
                        f"run {run}/{runs} {name}: {time.monotonic() - started:.0f}s"
                    )
        self.results.machine["load_end"] = os.getloadavg()[0]
        return self.results

    def _run_one(self, name: str, run: int, progress: Progress, overall: Any, current: Any) -> None:
        steps = self.steps(name)
        path = self.options.workdir / f"steps-{name}.json"
        path.write_text(json.dumps(steps))
        keys = {s["key"] for s in steps}
        if "drain_c10" in keys and "drain_best" not in keys and not self.options.sweep:
            self.results.alias(name, "drain_best", "drain_c10")
        log = self.options.workdir / f"runner-{name}-{run}.log"
        label = f"run {run}/{self.options.budget.runs} · {name}"
        progress.update(current, description=f"{label} · starting", completed=0, total=1)
        with open(log, "w") as errors:
            runner = subprocess.Popen(
                [str(self.python[name]), "-m", "benchmarks.suite.runner", "--system", name,
                 "--steps", str(path), "--workdir", str(self.options.workdir)],
                cwd=ROOT, env=self.env(name), stdout=subprocess.PIPE, stderr=errors, text=True,
            )  # fmt: skip
            assert runner.stdout is not None
            for line in runner.stdout:
                event = _parse(line)
                if event is None:
                    continue
                self._on_event(name, run, event, progress, overall, current, label)
            code = runner.wait()
        if code != 0:
            tail = "\n".join(log.read_text(errors="replace").splitlines()[-5:])
            message = f"the runner exited with {code}: {redact_url(tail)}"
            self.results.errors.append({"system": name, "run": run, "key": "runner",
                                        "message": message})  # fmt: skip
            progress.console.print(f"[red]{name} run {run}[/]: {escape(message)}")

    def _on_event(
        self,
        name: str,
        run: int,
        event: dict[str, Any],
        progress: Progress,
        overall: Any,
        current: Any,
        label: str,
    ) -> None:
        kind = event["event"]
        if kind == "progress":
            progress.update(
                current,
                description=f"{label} · {event['phase']}",
                completed=event["done"],
                total=max(event["total"], 1),
            )
        elif kind == "timing":
            self.results.add(name, run, event)
            progress.advance(overall)
        elif kind in ("result", "error"):
            self.results.add(name, run, event)
            if kind == "error":
                progress.console.print(
                    f"[red]{name} run {run} {event['key']}[/]: "
                    + escape(redact_url(event["message"]))
                )


def _parse(line: str) -> dict[str, Any] | None:
    if not line.startswith("{"):
        return None
    try:
        event: dict[str, Any] = json.loads(line)
    except json.JSONDecodeError:
        return None
    return event

"""Start-up: from launching ``python -m asynctasq worker --queues q`` to its first job.

    python -m benchmarks.startup --driver sqlite --runs 10
    python -m benchmarks.startup --driver redis --runs 10 --imports
    python -m benchmarks.startup --driver redis --runs 10 --source
    python -m benchmarks.startup --driver postgres --runs 5 --steps --instructions

One job is queued first; then the worker process is launched with nothing but its
queue, its task module and the broker's settings, and the job writes the time it
started. The figure is that time minus the moment before the launch: interpreter
start, imports, settings, connecting, the first claim. ``--imports`` also times
``import asynctasq`` alone and the import of everything a worker loads, each in a
fresh interpreter.

The package's bytecode is compiled first, as ``pip install`` does: an installed
worker never compiles its modules at launch. ``--source`` times a launch that does
(no ``__pycache__``, PYTHONDONTWRITEBYTECODE set: a source checkout in an environment
that writes no bytecode), where compiling asynctasq's modules is a large part of it.

Each row also gives the worker's CPU time until its first job; ``--steps`` when each
start-up step ended (benchmarks/startup_steps.py); ``--instructions`` the instructions
the worker ran until its first job, counted by callgrind: the figure that does not move
with the machine's load.
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from asynctasq.config import Config
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.core.driver_factory import DriverFactory
from benchmarks.brokers import bench_config, cleanup, config_env
from benchmarks.tasks import StartProbe

ROOT = Path(__file__).resolve().parent.parent
QUEUE = "startup"
#: the CPU time (user + system) the worker process used until its first job started:
#: what start-up costs, and far steadier than the wall time on a shared machine
CPU = "its CPU time until then"
#: what the worker imports from this checkout (the rest is installed, compiled)
OURS = ("asynctasq", "benchmarks")


def bytecode(source: bool) -> dict[str, str]:
    """Ready this checkout's bytecode for a launch: compiled as an install compiles
    it, or (``source``) absent, with the variables that keep it so."""
    for package in OURS:
        if source:
            for cache in (ROOT / package).rglob("__pycache__"):
                shutil.rmtree(cache, ignore_errors=True)
        else:
            compileall.compile_dir(ROOT / package, quiet=1)
    return {"PYTHONDONTWRITEBYTECODE": "1"} if source else {}


async def first_job_ms(
    driver_name: str, config: Config | None = None, *, source: bool = False
) -> float:
    """Launch to first job, in ms, on a namespace of its own (``config``: the broker's
    settings, by default from the ASYNCTASQ_* variables; ``source``: see bytecode())."""
    first, _ = await launch(driver_name, config, source=source)
    return first


async def launch(
    driver_name: str, config: Config | None = None, *, source: bool = False, steps: bool = False
) -> tuple[float, dict[str, float]]:
    """first_job_ms(), and the CPU time by then (``CPU``, ms), and with ``steps`` when
    each start-up step ended (ms after the launch; benchmarks/startup_steps.py)."""
    config = config or bench_config(driver_name)
    try:
        marker = Path(tempfile.mkdtemp()) / "started"
        await queue_probe(config, StartProbe(log=str(marker)))
        env = worker_env(config, source)
        marks = marker.with_name("steps")
        env["STARTUP_STEPS"] = str(marks)
        command = worker_command("benchmarks.startup_steps" if steps else "asynctasq")
        launched = time.time()
        worker = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            while not marker.exists() or not marker.read_text().strip():
                if time.monotonic() > deadline:
                    raise TimeoutError("the worker did not start its first job within 60 s")
                await asyncio.sleep(0.001)
            started, cpu = map(float, marker.read_text().split())
        finally:
            worker.terminate()
            worker.wait(30)
        ended = {}
        if steps:
            for line in marks.read_text().splitlines():
                step, at = line.split("\t")
                ended[step] = (float(at) - launched) * 1000
            ended["first job started"] = (started - launched) * 1000
        ended[CPU] = cpu * 1000
        return (started - launched) * 1000, ended
    finally:
        cleanup(config)


def first_job_instructions(driver_name: str, *, source: bool = False) -> int:
    """The instructions the worker process runs from its launch to its first job,
    counted by callgrind (valgrind): the same whatever else the machine runs."""
    config = bench_config(driver_name)
    try:
        marker = Path(tempfile.mkdtemp()) / "started"
        asyncio.run(queue_probe(config, StartProbe(log=str(marker), exit=True)))
        env = {**worker_env(config, source), "PYTHONHASHSEED": "0"}
        counted = ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
        done = subprocess.run(
            [*counted, *worker_command("asynctasq")],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        found = re.search(r"Collected : (\d+)", done.stderr)
        if found is None or not marker.exists():
            raise RuntimeError(f"the worker under callgrind did not reach its job: {done.stderr}")
        return int(found.group(1))
    finally:
        cleanup(config)


async def queue_probe(config: Config, probe: StartProbe) -> None:
    """The job the launched worker finds waiting."""
    driver = DriverFactory.create_from_config(config)
    await driver.connect()
    await driver.migrate()
    await Dispatcher(driver, config).dispatch(probe.on_queue(QUEUE))
    await driver.disconnect()


def worker_env(config: Config, source: bool) -> dict[str, str]:
    """The worker's environment: the broker's settings and nothing else of ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCTASQ_")}
    env.update(config_env(config))
    env.pop("ASYNCTASQ_QUEUES", None)
    env.update(bytecode(source))
    return env


def worker_command(entry: str) -> list[str]:
    """``python -m <entry> worker`` with nothing but its queue and the task module."""
    return [sys.executable, "-m", entry, "worker", "--queues", QUEUE,
            "--import", "benchmarks.tasks"]  # fmt: skip


def import_ms(statement: str, source: bool = False) -> float:
    """Milliseconds of ``statement`` in a fresh interpreter (its own clock)."""
    code = f"import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
    env = {**os.environ, **bytecode(source)}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    return float(done.stdout) * 1000


def summary(name: str, samples: list[float]) -> str:
    return (
        f"| {name} | {statistics.median(samples):.0f} | {min(samples):.0f} | "
        f"{max(samples):.0f} | ms |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--driver", default="sqlite")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--imports", action="store_true", help="also time the imports alone")
    parser.add_argument(
        "--source", action="store_true", help="compile asynctasq at each launch (no bytecode)"
    )
    parser.add_argument(
        "--steps", action="store_true", help="also when each start-up step ended (median)"
    )
    parser.add_argument(
        "--instructions",
        action="store_true",
        help="also the instructions to the first job (callgrind: slow, deterministic)",
    )
    args = parser.parse_args()
    rows = []
    if args.imports:
        rows.append(
            summary(
                "import asynctasq",
                [import_ms("import asynctasq", args.source) for _ in range(args.runs)],
            )
        )
        worker_imports = "import asynctasq.cli.main, asynctasq.cli.worker, asynctasq.cli.serve"
        rows.append(
            summary(
                "import what a worker loads",
                [import_ms(worker_imports, args.source) for _ in range(args.runs)],
            )
        )
    runs = [
        asyncio.run(launch(args.driver, source=args.source, steps=args.steps))
        for _ in range(args.runs)
    ]
    bytecode_note = ", compiled at launch" if args.source else ""
    rows.append(
        summary(f"launch to first job ({args.driver}{bytecode_note})", [r[0] for r in runs])
    )
    rows.append(summary(f"- {CPU}", [r[1][CPU] for r in runs]))
    if args.instructions:  # one run: the count varies by a fraction of a percent
        counted = first_job_instructions(args.driver, source=args.source) / 1e6
        rows.append(f"| - instructions until then (callgrind) | {counted:,.0f} | | | millions |")
    if args.steps:  # in the order they end, by median
        ends = {s: [r[1][s] for r in runs if s in r[1]] for s in runs[0][1] if s != CPU}
        for step, samples in sorted(ends.items(), key=lambda kv: statistics.median(kv[1])):
            rows.append(summary(f"- {step}", samples))
    print(f"`python -m benchmarks.startup {' '.join(sys.argv[1:])}`\n")
    print(f"{os.cpu_count()} cores, Python {platform.python_version()}, load average "
          f"{os.getloadavg()[0]:.1f}; median of {args.runs} runs (min, max)\n")  # fmt: skip
    print("| start-up | median | min | max | unit |\n|---|---:|---:|---:|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()

"""The collector is paused while a worker process starts and runs again from its first
claim, with what start-up made frozen (asynctasq/early_gc.py). Each check runs in a
fresh interpreter: pausing the collector of the test process would change every
other test."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

from tests.fresh import run_python

ROOT = Path(__file__).resolve().parents[2]

PROBE_TASKS = """
import gc, json, os
from asynctasq import AsyncTask

class GcProbe(AsyncTask[None]):
    async def execute(self) -> None:
        with open(os.environ["GC_PROBE_OUT"], "w") as f:
            json.dump({"enabled": gc.isenabled(), "frozen": gc.get_freeze_count()}, f)
"""


def run(argv: list[str], tmp_path: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    return run_python(argv, tmp_path, PYTHONPATH=str(ROOT), **extra)


def test_pause_and_resume(tmp_path: Path) -> None:
    code = """
        import gc, json
        from asynctasq import early_gc
        seen = {}
        early_gc.pause()
        seen["paused"] = [gc.isenabled(), early_gc.paused()]
        garbage = [[] for _ in range(1000)]
        early_gc.resume()
        seen["resumed"] = [gc.isenabled(), early_gc.paused(), gc.get_freeze_count() > 1000]
        gc.unfreeze()
        early_gc.resume()  # again: nothing more is frozen
        seen["again"] = gc.get_freeze_count()
        gc.disable()  # a program that runs without the collector keeps it off
        early_gc.pause()
        early_gc.resume()
        seen["kept_off"] = gc.isenabled()
        print(json.dumps(seen))
    """
    seen = json.loads(run(["-c", textwrap.dedent(code)], tmp_path).stdout)
    assert seen == {
        "paused": [False, True],
        "resumed": [True, False, True],
        "again": 0,
        "kept_off": False,
    }


def test_a_worker_runs_its_jobs_with_the_collector_on_and_its_start_up_frozen(
    tmp_path: Path,
) -> None:
    (tmp_path / "gc_probe_tasks.py").write_text(PROBE_TASKS)
    out = tmp_path / "seen.json"
    dispatch = "import asyncio, gc_probe_tasks; asyncio.run(gc_probe_tasks.GcProbe().dispatch())"
    run(["-c", dispatch], tmp_path)
    worker = ["-m", "asynctasq", "worker", "--queues", "default", "--burst"]
    run([*worker, "--import", "gc_probe_tasks"], tmp_path, GC_PROBE_OUT=str(out))
    seen = json.loads(out.read_text())
    assert seen["enabled"] is True
    assert seen["frozen"] > 10_000  # the modules, classes and functions of start-up


def test_every_other_command_runs_with_the_collector_on(tmp_path: Path) -> None:
    code = """
        import gc, sys
        from asynctasq import early_gc
        from asynctasq.cli import main as cli

        early_gc.pause()
        seen = []
        real = cli.build_parser

        def spy(words):
            parser = real(words)
            handlers = parser._subparsers._group_actions[0].choices  # argparse's own
            stats = handlers["stats"]
            handler = stats.get_default("handler")
            stats.set_defaults(handler=lambda args: seen.append(gc.isenabled()) or handler(args))
            return parser

        cli.build_parser = spy
        assert cli.main(["stats"]) == 0
        print("ON" if seen == [True] else f"OFF {seen}", file=sys.stderr)
    """
    done = run(["-c", textwrap.dedent(code)], tmp_path)
    assert done.stderr.strip().endswith("ON"), done.stderr


def test_the_console_script_pauses_the_collector_and_main_alone_does_not(
    tmp_path: Path,
) -> None:
    code = """
        import gc, json, sys
        from asynctasq.cli import main as cli

        assert cli.main(["stats"]) == 0  # a program's own call: nothing frozen
        alone = gc.get_freeze_count()
        sys.argv = ["asynctasq", "stats"]
        assert cli.console() == 0  # the console script: paused, then frozen at resume
        print(json.dumps([alone, gc.get_freeze_count() > 10_000, gc.isenabled()]))
    """
    out = run(["-c", textwrap.dedent(code)], tmp_path).stdout.splitlines()[-1]
    assert json.loads(out) == [0, True, True]

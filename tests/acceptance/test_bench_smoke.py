"""`python -m benchmarks --quick` still runs end to end: peers installed into their
own virtualenvs, every scenario measured, the table printed, the docs section and
the charts written. No speed is asserted: this is a smoke test, figures belong to
`make bench` on a quiet machine."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.suite import venvs
from benchmarks.suite.report import MARKERS
from tests.services import missing_service
from tests.workers import ROOT

#: the lightest peers to install, one with a bulk API and one without
PEERS = ("arq", "rq")
#: generous: it runs in the parallel phase beside other tests (it times nothing)
SUITE_TIMEOUT = 300


def _redis_up() -> bool:
    import redis

    try:
        return bool(redis.Redis(socket_connect_timeout=2).ping())
    except redis.RedisError:
        return False


@pytest.mark.timeout(SUITE_TIMEOUT + 120)
def test_quick_suite_runs_end_to_end(tmp_path: Path) -> None:
    if not _redis_up():
        missing_service("Redis is not running on 127.0.0.1:6379")
    status = venvs.ensure(PEERS)
    missing = {group: why for group, why in status.items() if why}
    if missing:
        reason = "; ".join(f"{group}: {why}" for group, why in missing.items())
        print(f"skipping: a peer could not be installed ({reason})")
        pytest.skip(f"a peer could not be installed: {reason}")

    docs, images, saved = tmp_path / "benchmarks.md", tmp_path / "img", tmp_path / "results.json"
    docs.write_text(
        f"# Benchmarks\n\nkept\n\n{MARKERS[0]}\nSTALE-SECTION\n{MARKERS[1]}\n\nkept too\n"
    )
    systems = ["asynctasq-redis", *PEERS]
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--jobs", "300",
         "--systems", ",".join(systems), "--docs", str(docs), "--img-dir", str(images),
         "--json", str(saved)],
        cwd=ROOT, capture_output=True, text=True, timeout=SUITE_TIMEOUT, check=False,
    )  # fmt: skip
    print(done.stdout[-4000:], done.stderr[-2000:])
    assert done.returncode == 0

    results = json.loads(saved.read_text())
    measured = set(results["systems"])
    assert set(PEERS) <= measured, results["skipped"]
    if "asynctasq-redis" not in measured:  # its driver may not load in every checkout
        print("asynctasq-redis skipped:", results["skipped"].get("asynctasq-redis"))
    assert results["errors"] == []
    for system in measured:
        figures = results["samples"][system]
        for key in ("enqueue_single", "drain_c10", "drain_4proc", "io_c100", "rss_peak"):
            assert figures[key][0]["value"] > 0, (system, key)
        assert figures["latency_start_p50"][0]["value"] > 0
        assert figures["latency_done_p99"][0]["value"] >= figures["latency_start_p50"][0]["value"]
    for system in measured:  # the issue 17 scenarios, peers included
        for key in ("enqueue_c100", "drain_default"):
            assert results["samples"][system][key][0]["value"] > 0, (system, key)
    if "asynctasq-redis" in measured:  # --processes 2 against 1: asynctasq only
        for key in ("drain_p1", "drain_p2"):
            assert results["samples"]["asynctasq-redis"][key][0]["value"] > 0, key
        assert results["extras"]["memory_drain"][0] > 0
        assert results["extras"]["rss_last"][0] > 0
    assert "enqueue_bulk" in results["samples"]["rq"]  # Queue.enqueue_many
    assert "enqueue_bulk" not in results["samples"]["arq"]  # no bulk API: n/a

    assert "idle latency to start, p50" in done.stdout
    text = docs.read_text()
    assert text.startswith("# Benchmarks\n\nkept\n") and text.endswith("kept too\n")
    assert "STALE-SECTION" not in text.split(MARKERS[0])[1]
    assert "| enqueue one by one (jobs/s) |" in text
    for chart in ("peers-throughput.png", "peers-latency.png", "peers-cpu-memory.png"):
        assert (images / chart).read_bytes().startswith(b"\x89PNG"), chart
        assert f"img/{chart}" in text

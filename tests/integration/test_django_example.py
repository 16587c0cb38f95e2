"""examples/django: a request dispatches through a Django view with the broker named
in settings.ASYNCTASQ, and `manage.py asynctasq_worker --burst` runs the job."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.workers import ROOT

REQUEST = """
from django.test import Client
response = Client().post("/orders/7?receipt={receipt}")
assert response.status_code == 202, response.content
print("queued", response.json()["job_id"])
"""


def test_a_view_dispatches_and_the_management_command_runs_the_job(tmp_path: Path) -> None:
    copy = tmp_path / "django"
    shutil.copytree(ROOT / "examples" / "django", copy, ignore=shutil.ignore_patterns("*.db*"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCTASQ_")}
    env["PYTHONPATH"] = str(ROOT)
    receipt = tmp_path / "receipt.txt"

    def manage(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=copy,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    sent = manage("shell", "-c", REQUEST.format(receipt=receipt))
    assert sent.returncode == 0 and "queued" in sent.stdout, sent.stdout + sent.stderr
    assert (copy / "broker.db").exists()  # the broker of settings.ASYNCTASQ
    assert not receipt.exists()

    worked = manage("asynctasq_worker", "--burst", "--concurrency", "1")
    assert worked.returncode == 0, worked.stdout + worked.stderr
    assert receipt.read_text() == "receipt for order 7\n"

    # an ASYNCTASQ_* variable wins over settings.ASYNCTASQ (a deployment's override)
    env["ASYNCTASQ_SQLITE_PATH"] = str(tmp_path / "other.db")
    sent = manage("shell", "-c", REQUEST.format(receipt=receipt))
    assert sent.returncode == 0, sent.stdout + sent.stderr
    assert (tmp_path / "other.db").exists()

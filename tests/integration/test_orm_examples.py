"""Each example in examples/ (ORM models and custom types) runs as its README says."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

EXPECTED = {
    "orm_sqlalchemy": [
        "invoice for Ada <ada@new.example>: 1 x keyboard, 2 x cable",
        "[failed hook] ModelNotFound: models:Customer with primary key 2 no longer exists",
        "4. dead letter: tasks.SendWelcome: ModelNotFound: models:Customer with primary key 2",
    ],
    "orm_django": [
        "shipping order 1 (paid) to ada@new.example",
        "[failed hook] ModelNotFound: shop.Customer with primary key 2 no longer exists",
    ],
    "orm_tortoise": [
        "match at Nantes: Ada (1530) vs Alan (1490)",
        "[failed hook] ModelNotFound: models.Player with primary key 3 no longer exists",
    ],
    "custom_types": [
        "charging Ada <ada@example.com> (customer since 2019) 42.50 EUR, shipping to Paris",
    ],
}


@pytest.mark.slow
@pytest.mark.parametrize("example", list(EXPECTED))
def test_the_example_runs_as_its_readme_says(example: str, tmp_path: Path) -> None:
    copy = tmp_path / example
    shutil.copytree(ROOT / "examples" / example, copy, ignore=shutil.ignore_patterns("*.db*"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ASYNCTASQ_", "SHOP_"))}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, "main.py"],
        cwd=copy,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    for line in EXPECTED[example]:
        assert line in result.stdout, result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr

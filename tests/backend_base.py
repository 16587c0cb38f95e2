"""The base of every test backend (kept apart from tests/backends.py, which imports
the broker-specific backend modules, so those can import this without a cycle).

A backend is a conformance :class:`~asynctasq.testing.conformance.Target` (drivers
sharing one isolated namespace) that also knows how to point a worker subprocess at
that namespace (``config``, ``env``).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from asynctasq.config import Config
from asynctasq.testing.conformance import Target


class Backend(Target):
    #: can another OS process reach this broker (worker subprocess tests)?
    shared_across_processes = True

    def __init__(self, tmp_path: Path) -> None:
        super().__init__()
        self.tmp_path = tmp_path
        self.namespace = f"t{secrets.token_hex(4)}"

    def config(self, **overrides: Any) -> Config:
        """Settings that point a worker subprocess at this namespace."""
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        """The same, as ASYNCTASQ_* variables for a subprocess."""
        raise NotImplementedError

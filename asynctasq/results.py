"""Results of jobs: ``await asynctasq.results.get(job_id, timeout=...)``.

See docs/workflows.md ("Results"); the implementation is asynctasq/core/results.py.
"""

from __future__ import annotations

from asynctasq.core.results import get, get_many
from asynctasq.errors import JobFailedError, ResultTimeoutError, ResultUnavailableError

__all__ = ["JobFailedError", "ResultTimeoutError", "ResultUnavailableError", "get", "get_many"]

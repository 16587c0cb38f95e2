"""The worker and its parts: executors, leases, outcomes, shutdown."""

from asynctasq.core.worker.worker import Worker, default_worker_id

__all__ = ["Worker", "default_worker_id"]

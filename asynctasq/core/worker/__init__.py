"""The worker and its parts: executors, leases, outcomes, shutdown, and the middleware
that run around each job."""

from asynctasq.core.worker.middleware import Handler, JobContext, Middleware, WorkerRuntime
from asynctasq.core.worker.worker import Worker, default_worker_id

__all__ = ["Handler", "JobContext", "Middleware", "Worker", "WorkerRuntime", "default_worker_id"]

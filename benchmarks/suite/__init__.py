"""`python -m benchmarks`: asynctasq and its Python peers, side by side in one run.

The orchestrator (project virtualenv) runs one `runner` subprocess per system and run,
inside that system's own virtualenv; the runner drives the system's public API and its
normal worker CLI, and reports figures as JSON lines. Modules the runner imports
(protocol, workload, runner, plan, worker_process) use the standard library and psutil
only, so they load in every peer's virtualenv.
"""

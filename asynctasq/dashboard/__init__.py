"""The operator's web UI: ``asynctasq dashboard`` serves it, ``create_app`` mounts it.

    from asynctasq.dashboard import create_app
    app.mount("/tasks", create_app(token="..."))

Every page reads and every button acts through ``asynctasq.operations``, the same
functions the CLI calls; live updates come from the event stream (one subscription
per process). docs/dashboard.md is the guide.
"""

from asynctasq.dashboard.app import create_app
from asynctasq.dashboard.security import AuthRequired, is_loopback

__all__ = ["AuthRequired", "create_app", "is_loopback"]

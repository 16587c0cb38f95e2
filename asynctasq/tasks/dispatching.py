"""How ``BaseTask.dispatch()`` finds the broker without importing the dispatcher.

Tasks sit below the dispatcher (``asynctasq.core``), so they ask for it through a
source installed here: ``asynctasq.core.dispatcher`` installs ``get_dispatcher``
when it is imported; until then the package's front door (``asynctasq``, imported
before any of its parts) imports it on first use. A test may install a source of
its own.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from asynctasq.tasks.base import BaseTask

__all__ = [
    "DispatcherSource",
    "TaskDispatcher",
    "default_dispatcher",
    "dispatcher_for",
    "install_dispatcher_source",
]


class TaskDispatcher(Protocol):
    async def dispatch(self, task: BaseTask[Any], *, connection: Any = None) -> str: ...


DispatcherSource = Callable[[], Awaitable[TaskDispatcher]]

_source: DispatcherSource | None = None


def install_dispatcher_source(source: DispatcherSource) -> None:
    """Where ``dispatch()`` gets the default dispatcher of the running event loop."""
    global _source
    _source = source


async def default_dispatcher() -> TaskDispatcher:
    if _source is None:
        # the package's own front door, which loads the dispatcher when first asked
        from asynctasq import _default_dispatcher

        return await _default_dispatcher()
    return await _source()


async def dispatcher_for(backend: Any) -> TaskDispatcher:
    """The default dispatcher (``backend`` None), or one sending to ``backend``: a
    driver, or a broker URL (``"redis://..."``, ``"sqlite:///jobs.db"``...)."""
    if backend is None:
        return await default_dispatcher()
    # the front door: drivers and the dispatcher sit above tasks
    from asynctasq import _dispatcher_for

    return await _dispatcher_for(backend)

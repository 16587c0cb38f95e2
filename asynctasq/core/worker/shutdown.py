"""SIGTERM and SIGINT: the first asks for a graceful stop, the second for an
immediate one (in-flight jobs are released to the queue, not lost). And the last
words to the broker, which never wait on it for long."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from asynctasq.core.worker.settlement import OutcomeBuffer

__all__ = ["BROKER_GRACE", "SignalHandlers", "deliver_outcomes", "within_grace"]

log = logging.getLogger("asynctasq.worker")

#: how long shutdown waits on a broker that does not answer (one call each)
BROKER_GRACE = 5.0

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class SignalHandlers:
    def __init__(self, on_graceful: Callable[[], None], on_immediate: Callable[[], None]) -> None:
        self.on_graceful = on_graceful
        self.on_immediate = on_immediate
        self.received = 0
        self._installed: list[signal.Signals] = []

    def install(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return  # only the main thread may own signals (an embedded worker)
        loop = asyncio.get_running_loop()
        for sig in _SIGNALS:
            try:
                loop.add_signal_handler(sig, self._handle, sig)
            except (NotImplementedError, RuntimeError):  # Windows
                continue
            self._installed.append(sig)
        # a signal that came while the command line was starting is handled now
        from asynctasq import early_signals  # the CLI records them

        for sig in early_signals.take():
            self._handle(sig)

    def _handle(self, sig: signal.Signals) -> None:
        self.received += 1
        if self.received == 1:
            log.info("%s received: finishing in-flight jobs (again to stop at once)", sig.name)
            self.on_graceful()
        else:
            log.warning("%s received again: stopping now, releasing in-flight jobs", sig.name)
            self.on_immediate()

    def uninstall(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in self._installed:
            loop.remove_signal_handler(sig)
        self._installed.clear()


async def deliver_outcomes(outcomes: OutcomeBuffer, patience: float, hurry: asyncio.Event) -> None:
    """Report what finished, waiting for the broker up to ``patience`` seconds (a
    few once ``hurry`` is set: a second signal); the worker's leases are still
    renewed meanwhile. What cannot be delivered is named in the log."""
    drained = asyncio.ensure_future(outcomes.drain(timeout=patience))
    hurried = asyncio.ensure_future(hurry.wait())
    await asyncio.wait({drained, hurried}, return_when=asyncio.FIRST_COMPLETED)
    if not drained.done():
        await asyncio.wait({drained}, timeout=BROKER_GRACE)
    hurried.cancel()
    drained.cancel()
    lost = outcomes.undelivered()
    if lost:
        kinds = Counter(type(o).__name__ for o in lost)
        log.error(
            "%d outcome(s) could not reach the broker (%s); those jobs go back to the queue "
            "when their lease lapses, the attempt counted (completed ones run again): %s",
            len(lost),
            ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items())),
            ", ".join(o.job_id for o in lost[:20]) + (" ..." if len(lost) > 20 else ""),
        )


async def within_grace(call: Awaitable[Any], what: str) -> None:
    """A last call to the broker (deregister, disconnect), given up after BROKER_GRACE."""
    try:
        await asyncio.wait_for(call, BROKER_GRACE)
    except Exception as exc:
        log.warning("%s failed on the way out (%s: %s)", what, type(exc).__name__, exc)

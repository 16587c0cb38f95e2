"""SIGTERM and SIGINT: the first asks for a graceful stop, the second for an
immediate one (in-flight jobs are released to the queue, not lost)."""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from collections.abc import Callable

__all__ = ["SignalHandlers"]

log = logging.getLogger("asynctasq.worker")

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

"""``asynctasq worker --processes N``: N worker processes under one supervisor.

One Python process runs its jobs on one core; a machine with more cores runs several
workers. The supervisor starts N children, each a full worker (``python -m asynctasq
worker`` with the same flags, its own connections), and:

- restarts a child that exits while the group is running (a crash, an OOM kill),
  waiting longer after each quick crash (0.5 s doubling up to 30 s; a child that
  ran a minute starts from 0.5 s again): never a tight loop;
- forwards SIGTERM and SIGINT to every child: the first stops each gracefully (its
  jobs in flight finish), a second stops them at once (jobs in flight go back to
  the queue); a signal that came while the supervisor was starting counts too;
- exits once every child has: 0 when all of them exited 0.

Children run in a session of their own, so a Ctrl-C at the terminal reaches them
once, through the supervisor, not twice (a second signal would stop them at once);
on Linux a child also stops if the supervisor itself dies (kill -9). Each child
marks its heartbeat record with the supervisor's id (``WorkerInfo.supervisor``), so
``asynctasq stats`` shows one host with N pids.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import secrets
import signal
import socket
import sys
import time
from collections.abc import Mapping, Sequence

from asynctasq import early_signals
from asynctasq.cli.processes import SUPERVISOR_ENV, processes_wanted

__all__ = ["SUPERVISOR_ENV", "Supervisor", "child_argv", "processes_wanted"]

log = logging.getLogger("asynctasq.supervisor")

_SIGNALS = (signal.SIGTERM, signal.SIGINT)
#: exit codes of a child killed by one of them
_DIED_OF_STOP_SIGNAL = frozenset(-sig for sig in _SIGNALS)
#: restart delays after quick crashes: first, and the most
FIRST_DELAY, MOST_DELAY = 0.5, 30.0
#: a child that ran this long before it stopped starts again without delay growth
STEADY_SECONDS = 60.0


def child_argv(argv: Sequence[str]) -> list[str]:
    """The command line of a child: the same ``worker`` flags without ``--processes``."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == "--processes":
            skip = True
            continue
        if arg.startswith("--processes="):
            continue
        out.append(arg)
    return [sys.executable, "-m", "asynctasq", *out]


class Supervisor:
    def __init__(
        self,
        argv: Sequence[str],
        processes: int,
        *,
        env: Mapping[str, str] | None = None,
        burst: bool = False,
    ) -> None:
        self.argv = list(argv)
        self.processes = processes
        self.burst = burst
        self.id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.env = {**(os.environ if env is None else env), SUPERVISOR_ENV: self.id}
        self._children: dict[int, asyncio.subprocess.Process] = {}  # slot -> process
        self._stopping = asyncio.Event()
        self._signals = 0
        self.restarts = 0

    async def run(self) -> int:
        """Until every child has exited; 0 when each exited 0."""
        loop = asyncio.get_running_loop()
        for sig in _SIGNALS:
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._on_signal, sig)
        for sig in early_signals.take():  # one that came while the supervisor started
            self._on_signal(sig)
        log.info("supervisor %s: starting %d worker processes", self.id, self.processes)
        try:
            codes = await asyncio.gather(*(self._keep(slot) for slot in range(self.processes)))
        finally:
            for sig in _SIGNALS:
                with contextlib.suppress(NotImplementedError, RuntimeError):
                    loop.remove_signal_handler(sig)
        failed = [code for code in codes if code != 0]
        log.info(
            "supervisor %s: every worker process stopped (%s)",
            self.id,
            "all exited 0" if not failed else f"exit codes {codes}",
        )
        return 0 if not failed else 1

    def _on_signal(self, sig: signal.Signals) -> None:
        self._signals += 1
        self._stopping.set()
        how = "gracefully" if self._signals == 1 else "at once"
        log.info(
            "%s received: stopping %d worker process(es) %s", sig.name, len(self._children), how
        )
        for child in list(self._children.values()):
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(sig)

    async def _keep(self, slot: int) -> int:
        """Run one child in ``slot``, restarting it until the group stops; its last
        exit code."""
        delay = FIRST_DELAY
        code = 0
        while not self._stopping.is_set():
            started = time.monotonic()
            child = await self._spawn()
            self._children[slot] = child
            if self._stopping.is_set():  # a signal while it was being started
                with contextlib.suppress(ProcessLookupError):
                    child.send_signal(signal.SIGTERM)
            code = await child.wait()
            del self._children[slot]
            if self._stopping.is_set():
                # a child our stop signal reached before it set up its own handling (it
                # was still starting: it had taken no job) dies of it: a clean stop
                return 0 if code in _DIED_OF_STOP_SIGNAL else code
            if self.burst and code == 0:
                return code
            ran = time.monotonic() - started
            delay = FIRST_DELAY if ran >= STEADY_SECONDS else delay
            self.restarts += 1
            log.warning(
                "worker process %d (pid %d) exited with %s after %.1fs; starting another in %.1fs",
                slot,
                child.pid,
                _describe(code),
                ran,
                delay,
            )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
            delay = min(delay * 2, MOST_DELAY)
        return code

    async def _spawn(self) -> asyncio.subprocess.Process:
        return await asyncio.create_subprocess_exec(
            *child_argv(self.argv),
            env=self.env,
            stdin=asyncio.subprocess.DEVNULL,
            start_new_session=True,  # signals reach a child through us only
            preexec_fn=_die_with_parent if sys.platform == "linux" else None,
        )


def _describe(code: int) -> str:
    if code < 0:
        with contextlib.suppress(ValueError):
            return f"signal {signal.Signals(-code).name}"
    return f"code {code}"


def _die_with_parent() -> None:
    """In the child, before exec: SIGTERM it when the supervisor dies (Linux
    PR_SET_PDEATHSIG), so no worker outlives a supervisor killed with -9."""
    pr_set_pdeathsig = 1
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)

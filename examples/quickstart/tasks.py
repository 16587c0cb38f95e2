"""The quickstart's tasks: one of each kind, plus one that always fails."""

from __future__ import annotations

import asyncio
import hashlib
import time

from asynctasq import AsyncTask, Backoff, SyncProcessTask, SyncTask, task


class SendWelcomeEmail(AsyncTask[str]):
    """I/O-bound work: a coroutine on the worker's event loop."""

    config = {"queue": "emails"}

    to: str

    async def execute(self) -> str:
        await asyncio.sleep(0.05)  # the SMTP round trip
        print(f"  [AsyncTask]        sent welcome email to {self.to}", flush=True)
        return f"queued-for-{self.to}"


class ResizeImage(SyncTask[tuple[int, int]]):
    """Blocking work: runs in the worker's thread pool."""

    path: str
    width: int

    def execute(self) -> tuple[int, int]:
        time.sleep(0.05)  # a blocking library call
        print(f"  [SyncTask]         resized {self.path} to {self.width}px wide", flush=True)
        return (self.width, self.width * 3 // 4)


class HashPassword(SyncProcessTask[str]):
    """CPU-bound work: runs in the process pool, away from the event loop."""

    password: str

    def execute(self) -> str:
        digest = hashlib.pbkdf2_hmac("sha256", self.password.encode(), b"salt", 200_000)
        print("  [SyncProcessTask]  hashed a password in a pool process", flush=True)
        return digest.hex()[:16]


class ChargeCard(AsyncTask[None]):
    """Always fails: retried twice with backoff, then dead-lettered."""

    config = {"max_attempts": 3, "retry_delay": Backoff(base=0.2, max_delay=1.0, jitter=False)}

    order_id: int

    async def execute(self) -> None:
        attempt = self._attempts
        print(f"  [AsyncTask]        charging order {self.order_id}, attempt {attempt}", flush=True)
        raise ConnectionError("payment gateway unreachable")

    async def failed(self, exception: BaseException) -> None:
        print(f"  [failed hook]      order {self.order_id} given up: {exception}", flush=True)


@task(queue="emails")
async def send_reminder(to: str) -> None:
    """A function task: @task makes it a class with the same API."""
    print(f"  [@task, delayed]   reminder sent to {to}", flush=True)

"""Tasks written the AsyncMQ way, for the tests of the AsyncMQ-style API."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from asynctasq.tasks import task

#: what the bodies saw, by test
seen: list[Any] = []


@task(queue="emails", retries=2, retry_delay=0, timeout=30, priority=5, name="amq.send_email")
async def send_email(to: str, subject: str = "hi") -> str:
    seen.append(("send_email", to, subject))
    return f"sent {subject} to {to}"


@task(name="amq.add")
def add(a: int, b: int) -> int:
    return a + b


@task(progress=True, name="amq.async_steps", queue="steps")
async def async_steps(n: int, report_progress: Callable[..., Any]) -> int:
    for i in range(1, n + 1):
        await asyncio.sleep(0)
        report_progress(i / n, {"step": i})  # no await, as AsyncMQ users write it
    return n


@task(progress=True, name="amq.sync_steps", queue="steps")
def sync_steps(n: int, report_progress: Callable[..., Any]) -> int:
    for i in range(1, n + 1):
        report_progress(i / n, {"step": i})
    return n


@task(name="amq.slow", queue="slow")
async def slow(seconds: float) -> str:
    seen.append(("slow started", time.time()))
    await asyncio.sleep(seconds)
    seen.append(("slow", time.time()))
    return "done"


@task(progress=True, process=True, name="amq.process_steps", queue="steps")
def process_steps(n: int, report_progress: Callable[..., Any]) -> int:
    for i in range(1, n + 1):
        report_progress(i / n)
    return n


@task(name="amq.endless", queue="slow")
async def endless(key: str) -> None:
    seen.append(("endless started", key))
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        seen.append(("endless cancelled", key))  # it may clean up
        raise

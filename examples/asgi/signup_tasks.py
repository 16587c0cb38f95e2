"""The background job of the signup examples: a welcome email (printed here)."""

from __future__ import annotations

import asyncio

from asynctasq.tasks import task

#: what the examples sent, for their tests to read (the worker runs in the app)
SENT: list[str] = []


@task(queue="email", retries=2)
async def send_welcome(email: str, slow: float = 0.0) -> None:
    await asyncio.sleep(slow)  # a slow mail server, for the shutdown demonstration
    SENT.append(email)
    print(f"welcome email sent to {email}")

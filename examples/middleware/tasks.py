"""Two tasks: one whose first attempt fails, one the kill switch disables."""

from __future__ import annotations

from asynctasq import AsyncTask


class Charge(AsyncTask[str]):
    config = {"max_attempts": 3, "retry_delay": 0.1}
    order: int

    async def execute(self) -> str:
        if self._attempts == 1:
            raise ConnectionError("payment gateway timed out")
        return f"order {self.order} charged"


class SendNewsletter(AsyncTask[None]):
    async def execute(self) -> None:
        print("newsletter sent")  # never: DISABLED_TASKS names this task

"""The tasks: a receipt written to the file the view names."""

from pathlib import Path

from asynctasq.tasks import task


@task(queue="default", retries=1)
def write_receipt(order: int, path: str) -> None:
    Path(path).write_text(f"receipt for order {order}\n")

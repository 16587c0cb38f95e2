"""Serving the dashboard on its own (``asynctasq dashboard``), with uvicorn."""

from __future__ import annotations

from starlette.applications import Starlette

__all__ = ["serve"]


def serve(app: Starlette, host: str, port: int) -> None:
    import uvicorn  # the dashboard extra; only the stand-alone server needs it

    uvicorn.run(app, host=host, port=port, log_level="warning", proxy_headers=False)

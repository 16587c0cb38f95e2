"""``python manage.py asynctasq_worker [worker options]``: ``asynctasq worker`` in a
process where Django is set up (models, settings.ASYNCTASQ), with every option of
the command line's worker (``--queues``, ``--burst``, ``--health-file``...)."""

from __future__ import annotations

import argparse
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from asynctasq.cli.main import main


class Command(BaseCommand):  # type: ignore[misc]  # django ships no types
    help = "Run an asynctasq worker (the options of `asynctasq worker --help`)."

    def add_arguments(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("worker_args", nargs=argparse.REMAINDER)

    def run_from_argv(self, argv: list[str]) -> None:
        # the worker's own parser reads its options: Django's would refuse them
        self.handle(worker_args=argv[2:])

    def handle(self, *args: Any, **options: Any) -> None:
        code = main(["worker", *options.get("worker_args", [])])
        if code:
            raise CommandError(f"the worker exited with status {code}", returncode=code)

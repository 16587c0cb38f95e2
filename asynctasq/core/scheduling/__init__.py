"""Firing repeatable and cron jobs: the ``Scheduler`` (any number may run; each slot
fires once) and the one every worker runs. Schedules themselves: asynctasq.schedules."""

from asynctasq.core.scheduling.scheduler import Scheduler, register

__all__ = ["Scheduler", "register"]

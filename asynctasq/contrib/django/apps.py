"""The Django app: reads ``settings.ASYNCTASQ`` once Django is set up."""

from __future__ import annotations

from django.apps import AppConfig
from django.conf import settings

from asynctasq.contrib.django.settings import apply_settings


class AsyncTasQConfig(AppConfig):  # type: ignore[misc]  # django ships no types
    name = "asynctasq.contrib.django"
    label = "asynctasq"
    verbose_name = "asynctasq"

    def ready(self) -> None:
        apply_settings(getattr(settings, "ASYNCTASQ", {}))

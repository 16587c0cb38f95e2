"""Django settings of the example. SQLite by default; set SHOP_POSTGRES_DB (and
optionally SHOP_POSTGRES_HOST) to use PostgreSQL instead."""

from __future__ import annotations

import os
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent

SECRET_KEY = "example-only-not-secret"
INSTALLED_APPS = ["shop"]
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if os.environ.get("SHOP_POSTGRES_DB"):
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": os.environ["SHOP_POSTGRES_DB"],
            "USER": os.environ.get("SHOP_POSTGRES_USER", "postgres"),
            "HOST": os.environ.get("SHOP_POSTGRES_HOST", "127.0.0.1"),
        }
    }
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": HERE / "shop.db"}}

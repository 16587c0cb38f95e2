"""A one-app Django project whose views dispatch and whose worker is a manage.py command."""

from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "example-only"
DEBUG = True
ALLOWED_HOSTS = ["*"]
ROOT_URLCONF = "mysite.urls"
INSTALLED_APPS = ["asynctasq.contrib.django"]
DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "site.db"}}
USE_TZ = True

# asynctasq's settings, by their names in docs/configuration.md
# (an ASYNCTASQ_* environment variable still wins: the deployment's override)
ASYNCTASQ = {
    "driver": "sqlite",
    "sqlite_path": str(BASE_DIR / "broker.db"),
    "task_modules": ["mysite.jobs"],
    "shutdown_timeout": 25,
}

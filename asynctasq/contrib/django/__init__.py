"""Django: add ``"asynctasq.contrib.django"`` to ``INSTALLED_APPS`` and the settings
in ``settings.ASYNCTASQ`` (our setting names: ``{"driver": "redis", "redis_url":
...}``) configure both the dispatches of your views and ``python manage.py
asynctasq_worker`` (docs/integrations.md)."""

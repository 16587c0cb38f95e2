"""Integrations with other software, each imported only by the apps that use it:
``asgi`` (a lifespan running workers inside a web app, a health and metrics sub-app),
``otel`` (OpenTelemetry tracing), ``django`` (settings and a management command)."""

# One image for the worker, the CLI and the health probes:
#   docker build -t asynctasq .
#   docker run --env-file .env asynctasq worker --import myapp.tasks --queues default
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md LICENSE CHANGELOG.md ./
COPY asynctasq ./asynctasq
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[redis,postgres,mysql,monitoring,otel]"

FROM python:3.12-slim
RUN useradd --create-home --uid 10001 asynctasq
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER 10001
WORKDIR /home/asynctasq/app
ENV PYTHONUNBUFFERED=1 PYTHONPATH=/home/asynctasq/app
# exec form: the worker is PID 1's child-free process and receives SIGTERM itself
ENTRYPOINT ["asynctasq"]
CMD ["worker"]

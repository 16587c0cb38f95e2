"""Every path that turns configuration or an exception into text, end to end: the
error stored with a job, the events, the log records (text and JSON), a task's
``failed()`` hook, the event emitters' own logs, MySQL DSN errors and CLI output.
None may show a password."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys

import msgpack
import pytest

from asynctasq import AsyncTask, JobState
from asynctasq.core.dispatcher import Dispatcher
from asynctasq.core.events.emitters import CallbackEmitter, CompositeEmitter, LoggingEmitter
from asynctasq.core.events.types import Event
from asynctasq.core.events.wire import decode_message
from asynctasq.core.logs import configure_logging
from asynctasq.core.logs_json import JsonFormatter
from asynctasq.drivers.capabilities import Inspection
from asynctasq.drivers.mysql.dsn import MySQLSettings
from asynctasq.testing import EventRecorder, drain
from tests.backends import Backend
from tests.conftest import skip_without
from tests.workers import ROOT

pytestmark = pytest.mark.timeout(60)

SECRET = "Zq9-s3cr3t"
#: the fragments a partial leak would show (the old pattern leaked what follows an @)
FRAGMENTS = (SECRET, "Zq9", "s3cr3t", "tail", "part@")
DSNS = (
    f"postgresql://app:{SECRET}@db.internal:5432/prod",
    f"redis://cache:6379/0?password={SECRET}",
    f"mysql://root:{SECRET}tail@part@mysql.internal/test",
    f"host=db user=app password={SECRET} dbname=prod",
)


def assert_clean(text: str, where: str) -> None:
    leaked = [fragment for fragment in FRAGMENTS if fragment in text]
    assert not leaked, f"{where} shows {leaked}:\n{text}"


def leaky_error() -> ConnectionError:
    return ConnectionError("cannot reach any of " + " | ".join(DSNS))


class LeakyTask(AsyncTask[None]):
    config = {"max_attempts": 2, "retry_delay": 0}

    async def execute(self) -> None:
        raise leaky_error()

    async def failed(self, exception: BaseException) -> None:
        raise RuntimeError(f"could not report the failure to {DSNS[0]}") from exception


@pytest.fixture
def all_logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def everything_logged(caplog: pytest.LogCaptureFixture) -> str:
    text_format = logging.Formatter("%(message)s")
    json_format = JsonFormatter()
    return "\n".join(
        text_format.format(record) + "\n" + json_format.format(record) for record in caplog.records
    )


async def test_a_task_error_with_dsns_is_stored_sent_and_logged_without_passwords(
    backend: Backend, all_logs: pytest.LogCaptureFixture
) -> None:
    skip_without(backend, Inspection)  # it reads the jobs back
    driver = await backend.new_driver(keep_completed=True)
    config = backend.config(keep_completed_tasks=True, events_log=True)
    recorder = EventRecorder()
    emitter = CompositeEmitter([recorder, LoggingEmitter(logging.INFO)])
    job_id = await Dispatcher(driver, config).dispatch(LeakyTask())
    await drain(driver, ["default"], config=config, event_emitter=emitter)

    job = await driver.get(job_id)
    assert job is not None and job.state is JobState.FAILED
    assert job.error and "cannot reach any of postgresql://app:***@db.internal" in job.error
    assert "password=***" in job.error
    assert_clean(job.error, "the stored error")
    failures = [e for e in recorder.events if e.error is not None]
    assert {e.event_type for e in failures} == {"task_failed", "task_retrying", "task_dead"}
    for event in failures:
        assert event.traceback and "ConnectionError" in event.traceback
        assert_clean(json.dumps(event.to_dict()), f"the {event.event_type} event")
    logged = everything_logged(all_logs)
    assert "retry in" in logged and "failed for good" in logged and "task_dead" in logged
    assert "LeakyTask.failed() raised" in logged  # the hook's own error, with traceback
    assert_clean(logged, "the log records")


async def test_the_event_emitters_own_tracebacks_are_redacted(
    all_logs: pytest.LogCaptureFixture,
) -> None:
    def callback(event: Event) -> None:
        raise leaky_error()

    CallbackEmitter(callback).emit(Event("worker_online", worker_id="w"))
    logged = everything_logged(all_logs)
    assert "event callback failed" in logged and "ConnectionError" in logged
    assert_clean(logged, "the emitter's traceback log")


def test_every_asynctasq_logger_is_redacted_whatever_the_handlers() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        child = logging.getLogger("asynctasq.somewhere.new")  # made after the set-up
        try:
            raise leaky_error()
        except ConnectionError:
            child.exception("oops %s", DSNS[1], extra={"dsn": DSNS[0]})
        child.warning("stack", stack_info=True, extra={"event": {"error": DSNS[2]}})
    finally:
        root.removeHandler(handler)
    output = stream.getvalue()
    assert "ConnectionError" in output and "oops redis://cache:6379/0?password=***" in output
    assert_clean(output, "a JSON log line")


def test_the_worker_log_handler_redacts_the_tasks_own_records_too() -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    stream = io.StringIO()
    try:
        configure_logging("INFO", "text")
        ours = next(h for h in root.handlers if getattr(h, "_asynctasq", False))
        ours.setStream(stream)  # type: ignore[attr-defined]
        logging.getLogger("myapp.tasks").error("connecting to %s", DSNS[0])
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    assert "connecting to postgresql://app:***@db.internal" in stream.getvalue()
    assert_clean(stream.getvalue(), "a task's own log line")


def test_with_no_logging_set_up_warnings_still_print_redacted() -> None:
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            "import logging, asynctasq;"
            f"logging.getLogger('asynctasq.x').warning('lost %s', {DSNS[0]!r})",
        ],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )
    assert "lost postgresql://app:***@db.internal:5432/prod" in child.stderr
    assert_clean(child.stderr, "the last-resort handler's output")


@pytest.mark.parametrize(
    "dsn",
    [
        f"mysql://root:{SECRET}@db:notaport/test",
        f"mysqlx://root:{SECRET}@db/test",
        f"mysql://root:{SECRET}tail@part@db/",
        f"mysql://root:{SECRET}@db/test?password={SECRET}",
        f"mysql://root:{SECRET}@[::1/test",
    ],
)
def test_a_bad_mysql_dsn_is_explained_without_its_password(dsn: str) -> None:
    with pytest.raises(ValueError, match="invalid MySQL DSN") as refused:
        MySQLSettings.from_dsn(dsn)
    assert_clean(str(refused.value), "the MySQL DSN error")


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        (
            {"ASYNCTASQ_DRIVER": "mysql", "ASYNCTASQ_MYSQL_DSN": DSNS[2].replace("/test", "/")},
            "invalid MySQL DSN",
        ),
        (
            {
                "ASYNCTASQ_DRIVER": "redis",
                "ASYNCTASQ_REDIS_URL": f"redis://:{SECRET}@127.0.0.1:1/0",
            },
            "cannot reach Redis",
        ),
    ],
    ids=["bad mysql dsn", "unreachable redis"],
)
def test_cli_errors_show_no_password(env: dict[str, str], expected: str) -> None:
    child = subprocess.run(
        [sys.executable, "-m", "asynctasq", "stats"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("ASYNCTASQ_")}, **env},
    )
    assert child.returncode != 0
    assert expected in child.stderr, child.stderr
    assert_clean(child.stdout + child.stderr, "the CLI output")


def test_events_from_another_sender_are_scrubbed_on_arrival() -> None:
    # a worker of an older version sent its error text as it was
    row = {"event_type": "task_failed", "at": 1.0, "error": DSNS[0], "traceback": DSNS[3]}
    for message in (json.dumps([row]), msgpack.packb(row)):
        (event,) = decode_message(message)
        assert event.error == "postgresql://app:***@db.internal:5432/prod"
        assert_clean(json.dumps(event.to_dict()), "a received event")

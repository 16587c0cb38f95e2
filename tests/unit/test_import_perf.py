"""``import asynctasq`` is cheap: every public name is still there, loaded from its
module on first use (PEP 562), and ``task.dispatch()`` finds the dispatcher without
anything else imported first. Each check runs in a fresh interpreter."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

import asynctasq
from tests.fresh import run_python

ROOT = Path(__file__).resolve().parents[2]


def fresh(code: str, tmp_path: Path) -> str:
    return run_python(["-c", textwrap.dedent(code)], tmp_path).stdout


def test_importing_the_package_loads_none_of_its_parts(tmp_path: Path) -> None:
    out = fresh(
        """
        import json, sys
        import asynctasq
        print(json.dumps(sorted(sys.modules)))
        """,
        tmp_path,
    )
    loaded = set(json.loads(out))
    for heavy in (
        "asyncio",
        "asynctasq.config",
        "asynctasq.core.dispatcher",
        "asynctasq.core.worker",
        "asynctasq.tasks",
        "asynctasq.serialization",
        "dotenv",
        "msgpack",
    ):
        assert heavy not in loaded, f"import asynctasq loaded {heavy}"


def test_every_public_name_is_there() -> None:
    for name in asynctasq.__all__:
        assert getattr(asynctasq, name) is not None, name
    assert set(asynctasq.__all__) <= set(dir(asynctasq))
    assert asynctasq.Worker.__module__ == "asynctasq.core.worker.worker"
    assert asynctasq.AsyncTask is __import__("asynctasq.tasks").tasks.AsyncTask


def test_an_unknown_name_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        asynctasq.NoSuchThing  # type: ignore[attr-defined]  # noqa: B018


def test_from_import_star_gives_every_public_name(tmp_path: Path) -> None:
    out = fresh(
        """
        import json
        from asynctasq import *
        import asynctasq
        print(json.dumps([n for n in asynctasq.__all__ if n not in globals()]))
        """,
        tmp_path,
    )
    assert json.loads(out) == []


def test_a_task_dispatches_with_nothing_else_imported(tmp_path: Path) -> None:
    out = fresh(
        """
        import asyncio
        from asynctasq import AsyncTask

        class Hello(AsyncTask[None], name="tests.lazy.Hello"):
            async def execute(self) -> None:
                pass

        async def main() -> None:
            job_id = await Hello().dispatch()
            print(job_id)

        asyncio.run(main())
        """,
        tmp_path,
    )
    assert len(out.strip()) == 36  # a job id came back from the default broker


def test_the_worker_command_imports_only_what_a_worker_needs(tmp_path: Path) -> None:
    """What ``python -m asynctasq worker`` imports before its first job: the CLI's other
    commands, the supervisor of --processes, the monitoring, web and tracing
    libraries, the brokers' clients (the chosen one comes with its driver) and the
    installed packages' metadata all stay out (start-up, docs/benchmarks.md)."""
    out = fresh(
        """
        import json, sys
        from asynctasq.cli.main import build_parser
        import asynctasq.cli.worker, asynctasq.cli.serve
        build_parser(["worker", "--queues", "q"])
        print(json.dumps(sorted(sys.modules)))
        """,
        tmp_path,
    )
    loaded = set(json.loads(out))
    assert "asynctasq.core.worker.worker" in loaded  # the check sees a real worker import
    for unneeded in (
        "asynctasq.cli.supervisor",
        "asynctasq.cli.stats",
        "asynctasq.cli.dashboard",
        "asynctasq.dashboard",
        "asynctasq.operations",
        "asynctasq.core.worker.process_pool",
        "importlib.metadata",
        "ctypes",
        "multiprocessing",
        "concurrent.futures.process",
        "croniter",
        "rich",
        "typer",
        "click",
        "prometheus_client",
        "starlette",
        "uvicorn",
        "opentelemetry",
        "redis",
        "asyncpg",
        "aiomysql",
        "aio_pika",
        "pymongo",
        "aiosqlite",
        "sqlalchemy",
        "zoneinfo",
    ):
        assert unneeded not in loaded, f"the worker command imported {unneeded}"


def test_the_redis_driver_imports_redis_py_without_the_opentelemetry_sdk(tmp_path: Path) -> None:
    """redis-py imports the OpenTelemetry SDK's metrics for an annotation; the driver
    hides it for that import (asynctasq/drivers/redis/redis_py.py), and the SDK is
    still there for whoever imports it afterwards."""
    pytest.importorskip("opentelemetry.sdk.metrics")  # without the SDK: nothing to hide
    out = fresh(
        """
        import json, sys
        import asynctasq.drivers.redis
        loaded = sorted(sys.modules)
        from opentelemetry.sdk.metrics import MeterProvider  # as an application would
        import redis.observability.providers as providers
        print(json.dumps({"loaded": loaded, "provider": MeterProvider.__module__,
                          "redis_name": repr(providers.MeterProvider)}))
        """,
        tmp_path,
    )
    found = json.loads(out)
    assert "redis.asyncio" in found["loaded"]
    assert not [m for m in found["loaded"] if m.startswith(("opentelemetry.sdk", "psutil"))]
    assert found["provider"].startswith("opentelemetry.sdk.metrics")
    assert found["redis_name"] == "None"  # what redis-py sets when the SDK is absent


def test_an_sdk_imported_first_is_left_to_redis_py(tmp_path: Path) -> None:
    pytest.importorskip("opentelemetry.sdk.metrics")
    out = fresh(
        """
        import opentelemetry.sdk.metrics as sdk
        import asynctasq.drivers.redis
        import redis.observability.providers as providers
        print(providers.MeterProvider is sdk.MeterProvider)
        """,
        tmp_path,
    )
    assert out.strip() == "True"


def test_redis_py_uses_the_hidden_sdk_name_only_in_annotations() -> None:
    """What makes hiding the SDK safe: redis-py's providers module uses the names its
    SDK import sets (``MeterProvider``, ``OTEL_AVAILABLE``) only in annotations, and
    imports the SDK itself where it needs it. A redis-py that uses them otherwise
    fails this check: then asynctasq/drivers/redis/redis_py.py must go."""
    import ast

    import redis.observability.providers as providers

    tree = ast.parse(Path(providers.__file__).read_text())
    annotations: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            for arg in [*node.args.args, *node.args.kwonlyargs, *node.args.posonlyargs]:
                if arg.annotation is not None:
                    annotations.update(map(id, ast.walk(arg.annotation)))
            if node.returns is not None:
                annotations.update(map(id, ast.walk(node.returns)))
        elif isinstance(node, ast.AnnAssign):
            annotations.update(map(id, ast.walk(node.annotation)))
    uses = [
        node.lineno
        for node in ast.walk(tree)
        if isinstance(node, ast.Name)
        and node.id in {"MeterProvider", "OTEL_AVAILABLE"}
        and isinstance(node.ctx, ast.Load)
        and id(node) not in annotations
    ]
    assert uses == [], f"redis-py uses the SDK's names at lines {uses}"


def test_the_redis_driver_leaves_package_metadata_until_it_is_read(tmp_path: Path) -> None:
    """redis-py imports ``importlib.metadata`` at import and reads it only for its own
    version, which the driver gives it: the driver's import loads it no more (about 5%
    of a Redis worker's start-up), and whoever reads it gets the real module, redis-py
    included."""
    out = fresh(
        """
        import json, sys
        from asynctasq.cli.main import build_parser
        import asynctasq.cli.worker, asynctasq.cli.serve
        import asynctasq.drivers.redis
        build_parser(["worker", "--queues", "q"])
        loaded = "importlib.metadata" in sys.modules
        import redis, redis.utils
        from importlib import metadata
        version = metadata.version("redis")
        redis_reads = redis.utils.get_lib_version()
        real = sys.modules["importlib.metadata"] is metadata
        print(json.dumps({"loaded": loaded, "version": version, "redis_reads": redis_reads,
                          "real": real}))
        """,
        tmp_path,
    )
    found = json.loads(out)
    assert found["loaded"] is False
    assert found["version"] == found["redis_reads"] and found["real"]


def test_redis_py_reads_package_metadata_only_inside_functions() -> None:
    """What makes the stand-in safe: no module of redis-py reads ``importlib.metadata``
    at import (module level). A redis-py that does fails this check: then the stand-in
    in asynctasq/drivers/redis/redis_py.py must go."""
    import ast

    import redis

    at_import = []
    for path in Path(redis.__file__).parent.rglob("*.py"):
        tree = ast.parse(path.read_text())
        names = {"metadata", "importlib"}
        inside = {
            id(node)
            for function in ast.walk(tree)
            if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            for node in ast.walk(function)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "importlib.metadata"
            ):
                at_import.append(f"{path.name}:{node.lineno} (from importlib.metadata import)")
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in names
                and id(node) not in inside
                and (node.value.id == "metadata" or node.attr == "metadata")
            ):
                at_import.append(f"{path.name}:{node.lineno}")
    assert at_import == [], f"redis-py reads importlib.metadata at import: {at_import}"


def test_the_supervisor_asks_a_builtin_driver_nothing_before_its_workers_start(
    tmp_path: Path,
) -> None:
    """``worker --processes N`` checks that the broker can be shared without importing
    the driver or its client library, and the worker command loads the worker itself
    only in a worker (cli/serve.py): the supervisor starts its workers about 100 ms
    sooner."""
    out = fresh(
        """
        import json, sys
        from asynctasq.cli.main import build_parser
        import asynctasq.cli.worker
        from asynctasq.core.driver_registry import find_driver, shared_across_processes
        build_parser(["worker", "--queues", "q", "--processes", "2"])
        answers = [shared_across_processes(find_driver(n)) for n in ("redis", "postgres")]
        print(json.dumps({"answers": answers, "loaded": sorted(sys.modules)}))
        """,
        tmp_path,
    )
    found = json.loads(out)
    assert found["answers"] == [True, True]
    for module in (
        "redis",
        "asyncpg",
        "asynctasq.drivers.redis",
        "asynctasq.drivers.postgres",
        "asynctasq.cli.serve",
        "asynctasq.core.worker.worker",
    ):
        assert module not in found["loaded"], module


def test_the_redis_driver_reads_its_lua_scripts_on_first_use(tmp_path: Path) -> None:
    out = fresh(
        """
        import json
        import asynctasq.drivers.redis
        from asynctasq.drivers.redis.scripts import SCRIPTS
        before = sorted(SCRIPTS)
        SCRIPTS["reserve"]
        print(json.dumps([before, sorted(SCRIPTS)]))
        """,
        tmp_path,
    )
    assert json.loads(out) == [[], ["reserve"]]


def test_every_dataclass_a_worker_loads_has_its_own_docstring(tmp_path: Path) -> None:
    """A dataclass without a docstring gets one built from inspect.signature() when
    it is defined: a cost at every start-up for a docstring nobody reads."""
    out = fresh(
        """
        import dataclasses, json, sys
        from asynctasq.cli.main import build_parser
        import asynctasq.cli.worker, asynctasq.cli.serve
        import asynctasq.drivers.redis, asynctasq.drivers.postgres
        import asynctasq.drivers.sqlite
        build_parser(["worker", "--queues", "q"])
        built = []
        for name, module in list(sys.modules.items()):
            if name.startswith("asynctasq"):
                for cls in vars(module).values():
                    if (isinstance(cls, type) and dataclasses.is_dataclass(cls)
                            and cls.__module__ == name
                            and (cls.__doc__ or "").startswith(cls.__name__ + "(")):
                        built.append(f"{name}.{cls.__qualname__}")
        print(json.dumps(sorted(set(built))))
        """,
        tmp_path,
    )
    assert json.loads(out) == []


def test_the_sql_drivers_read_their_queries_without_importlib_resources(tmp_path: Path) -> None:
    """The SQL files are read beside their module: importlib.resources.files() loads
    zipfile and its readers for a package that is never zipped."""
    out = fresh(
        """
        import json, sys
        from asynctasq.drivers.sql.loader import load_migrations, load_queries
        queries = load_queries("postgres")
        migrations = load_migrations("postgres")
        print(json.dumps({"loaded": sorted(sys.modules), "queries": len(queries),
                          "migrations": [m.version for m in migrations]}))
        """,
        tmp_path,
    )
    found = json.loads(out)
    assert found["queries"] > 10 and found["migrations"][0] == 1
    for unneeded in ("zipfile", "importlib.resources.readers", "importlib.readers"):
        assert unneeded not in found["loaded"], unneeded


def test_a_zoneinfo_is_still_packed_and_a_schedule_zone_still_checked(tmp_path: Path) -> None:
    """zoneinfo is imported on first use (it stays out of a worker's start-up)."""
    out = fresh(
        """
        import datetime as dt, json, sys
        from asynctasq.schedules import Schedule
        from asynctasq.serialization.msgpack import Serializer
        before = "zoneinfo" in sys.modules
        try:
            Schedule(id="s", task="t", payload=b"", every=60, timezone="Nowhere/At_All")
            refused = False
        except Exception:
            refused = True
        from zoneinfo import ZoneInfo
        moment = dt.datetime(2026, 1, 2, 3, 4, tzinfo=ZoneInfo("Europe/Paris"))
        serializer = Serializer()
        back = serializer.loads(serializer.dumps(moment))
        print(json.dumps([before, refused, str(back.tzinfo), back == moment]))
        """,
        tmp_path,
    )
    assert json.loads(out) == [False, True, "Europe/Paris", True]

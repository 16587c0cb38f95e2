"""Drivers selected by name, by import path, by a package's entry point, or by URL;
and how settings reach them (ASYNCTASQ_DRIVER_OPTIONS, options=, precedence)."""

from __future__ import annotations

import logging
import tomllib
from pathlib import Path

import pytest

from asynctasq.config import Config, ConfigError, DriverOptions
from asynctasq.core.driver_factory import URL_SCHEMES, DriverFactory
from asynctasq.core.driver_registry import (
    BUILTIN_DRIVERS,
    ENTRY_POINT_GROUP,
    DriverImportError,
    available_drivers,
    find_driver,
    load_driver,
    shared_across_processes,
)
from asynctasq.drivers.memory import MemoryDriver
from asynctasq.drivers.mysql import MySQLDriver
from asynctasq.drivers.postgres import PostgresDriver
from asynctasq.drivers.redis import RedisDriver
from asynctasq.drivers.sqlite import SQLiteDriver
from asynctasq.jobs import Job
from tests.unit.custom_driver import PlainDriver, TinyDriver

ROOT = Path(__file__).resolve().parents[2]
TINY = "tests.unit.custom_driver:TinyDriver"


def _env(**variables: str) -> Config:
    return Config.from_env(
        {f"ASYNCTASQ_{k.upper()}": v for k, v in variables.items()}, env_file=None
    )


@pytest.fixture
def third_party(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An installed package "throwaway-drivers" that registers drivers: a
    .dist-info with an entry_points.txt on sys.path, as pip would leave it."""
    site = tmp_path / "site"
    info = site / "throwaway_drivers-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: throwaway-drivers\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\n"
        f"tiny = {TINY}\n"
        "fancy = throwaway_fancy:FancyDriver [fancy]\n"
        "gone = throwaway_gone:GoneDriver\n"
        f"redis = {TINY}\n"  # a built-in name: never taken over
    )
    (site / "throwaway_fancy.py").write_text("import throwaway_client_library  # not installed\n")
    monkeypatch.syspath_prepend(str(site))
    return site


# -- names -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "cls"),
    [
        ("memory", MemoryDriver),
        ("sqlite", SQLiteDriver),
        ("redis", RedisDriver),
        ("postgres", PostgresDriver),
        ("mysql", MySQLDriver),
    ],
)
def test_each_builtin_name_builds_its_driver(name: str, cls: type) -> None:
    driver = DriverFactory.create_from_config(_env(driver=name.upper()))
    assert type(driver) is cls


def test_the_builtin_names_are_the_entry_points_pyproject_declares() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    declared = project["project"]["entry-points"][ENTRY_POINT_GROUP]
    builtin = {
        name: spec.target + (f" [{','.join(spec.extras)}]" if spec.extras else "")
        for name, spec in BUILTIN_DRIVERS.items()
    }
    assert declared == builtin


def test_an_unknown_name_lists_the_choices() -> None:
    with pytest.raises(ConfigError) as caught:
        DriverFactory.create_from_config(_env(driver="nats"))
    message = str(caught.value)
    assert "ASYNCTASQ_DRIVER='nats'" in message
    assert "memory, mongodb, mysql, postgres, rabbitmq, redis, sqlite" in message
    assert "module:Class" in message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("mypkg.broker.MyDriver", "after a colon, e.g. mypkg.broker:MyDriver"),
        ("mongo db!", "expected a driver name"),
    ],
)
def test_a_malformed_setting_fails_at_start_naming_the_variable(value: str, expected: str) -> None:
    with pytest.raises(ConfigError, match="ASYNCTASQ_DRIVER") as caught:
        _env(driver=value)
    assert expected in str(caught.value)


# -- import paths ----------------------------------------------------------------------


async def test_an_import_path_selects_a_driver_of_your_own() -> None:
    driver = DriverFactory.create_from_config(_env(driver=TINY, keep_completed_tasks="true"))
    assert isinstance(driver, TinyDriver) and driver.keep_completed
    async with driver:  # it works: a job goes through it
        (job_id,) = await driver.enqueue([Job(task="t", payload=b"", queue="q")])
        (job,) = await driver.reserve(["q"], limit=1, worker_id="w", lease_seconds=5)
        assert job.id == job_id


@pytest.mark.parametrize(
    ("path", "error", "expected"),
    [
        ("tests.unit.custom_driver:Missing", DriverImportError, "has no attribute 'Missing'"),
        ("tests.unit.custom_driver:NotADriver", ConfigError, "is not a driver class"),
        ("tests.unit.no_such_module:Driver", DriverImportError, "is not installed"),
    ],
)
def test_a_bad_import_path_says_what_is_wrong(path: str, error: type, expected: str) -> None:
    with pytest.raises(error, match=expected):
        DriverFactory.driver_class(path)


# -- entry points of other packages ----------------------------------------------------


@pytest.mark.usefixtures("third_party")
def test_a_package_registers_a_driver_by_entry_point() -> None:
    driver = DriverFactory.create_from_config(_env(driver="tiny"))
    assert isinstance(driver, TinyDriver)
    assert available_drivers()["tiny"].distribution == "throwaway-drivers"


@pytest.mark.usefixtures("third_party")
def test_a_registered_driver_whose_library_is_missing_names_the_extra() -> None:
    with pytest.raises(DriverImportError) as caught:
        DriverFactory.driver_class("fancy")
    message = str(caught.value)
    assert "needs the throwaway_client_library library" in message
    assert 'pip install "throwaway-drivers[fancy]"' in message


@pytest.mark.usefixtures("third_party")
def test_a_registered_driver_whose_module_is_gone_says_so() -> None:
    with pytest.raises(DriverImportError, match="module throwaway_gone is missing"):
        DriverFactory.driver_class("gone")


def test_a_builtin_whose_client_library_is_missing_names_our_extra(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import sys

    for module in list(sys.modules):
        if module == "redis" or module.startswith("redis."):
            monkeypatch.setitem(sys.modules, module, None)  # import redis -> ImportError
        elif module.startswith("asynctasq.drivers.redis"):
            monkeypatch.delitem(sys.modules, module)  # imported again, from scratch
    with pytest.raises(
        DriverImportError, match=r'needs the redis library .*pip install "asynctasq\[redis\]"'
    ):
        DriverFactory.driver_class("redis")


@pytest.mark.parametrize("name", sorted(BUILTIN_DRIVERS))
def test_a_builtin_driver_is_known_shared_or_not_without_its_import(name: str) -> None:
    """What ``worker --processes`` asks before it starts its workers: the same answer as
    the driver class, and the client library each built-in driver imports."""
    spec = BUILTIN_DRIVERS[name]
    cls = load_driver(spec)
    assert shared_across_processes(spec) is cls.shared_across_processes
    if spec.library is not None:  # the driver's import loaded it
        import sys

        assert spec.library in sys.modules, (name, spec.library)


def test_a_builtin_whose_client_library_is_missing_is_said_before_its_workers_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "redis" else real(name, *a)
    )
    with pytest.raises(
        DriverImportError, match=r'needs the redis library .*pip install "asynctasq\[redis\]"'
    ):
        shared_across_processes(find_driver("redis"))


def test_another_driver_is_asked_by_its_class() -> None:
    spec = find_driver(TINY)  # (the in-memory broker under another name)
    assert shared_across_processes(spec) is load_driver(spec).shared_across_processes is False


def test_unknown_names_list_what_installed_packages_register(
    third_party: Path, caplog: pytest.LogCaptureFixture
) -> None:
    listing = r"installed: .*tiny \(from throwaway-drivers\)"
    with (
        caplog.at_level(logging.WARNING, "asynctasq.drivers"),
        pytest.raises(ConfigError, match=listing),
    ):
        DriverFactory.driver_class("nats")
    assert "registers a driver named 'redis'" in caplog.text  # and it is ignored:
    assert DriverFactory.driver_class("redis") is RedisDriver


# -- options ---------------------------------------------------------------------------


def test_driver_options_reach_a_custom_drivers_from_config() -> None:
    config = _env(driver=TINY, driver_options='{"greeting": "bonjour"}')
    driver = DriverFactory.create_from_config(config)
    assert isinstance(driver, TinyDriver)
    assert driver.greeting == "bonjour" and driver.config is config


def test_without_from_config_the_options_go_to_the_constructor() -> None:
    config = _env(
        driver="tests.unit.custom_driver:PlainDriver",
        driver_options='{"label": "from the environment"}',
        keep_completed_tasks="yes",
    )
    driver = DriverFactory.create_from_config(config)
    assert isinstance(driver, PlainDriver)
    assert (driver.label, driver.keep_completed) == ("from the environment", True)


def test_options_win_over_the_drivers_own_settings_and_code_wins_over_both() -> None:
    config = _env(driver="redis", redis_prefix="from-setting", driver_options='{"prefix": "opt"}')
    driver = DriverFactory.create_from_config(config)
    assert isinstance(driver, RedisDriver) and driver.keys.prefix == "opt"
    driver = DriverFactory.create_from_config(config, options={"prefix": "code"})
    assert isinstance(driver, RedisDriver) and driver.keys.prefix == "code"
    plain = DriverFactory.create_from_config(_env(driver="redis", redis_prefix="from-setting"))
    assert isinstance(plain, RedisDriver) and plain.keys.prefix == "from-setting"


def test_an_option_the_driver_does_not_take_is_refused_by_name_not_value() -> None:
    config = _env(driver=TINY, driver_options='{"password": "hunter2"}')
    with pytest.raises(ConfigError, match="does not take password") as caught:
        DriverFactory.create_from_config(config)
    assert "hunter2" not in str(caught.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [('{"password": "hunter2"', "is not valid JSON"), ('["hunter2"]', "not a list")],
)
def test_driver_options_must_be_a_json_object(raw: str, expected: str) -> None:
    with pytest.raises(ConfigError, match="ASYNCTASQ_DRIVER_OPTIONS") as caught:
        _env(driver_options=raw)
    assert expected in str(caught.value) and "hunter2" not in str(caught.value)


def test_driver_option_values_never_show_in_the_config_repr() -> None:
    config = _env(driver_options='{"token": "s3cret", "port": 4222}')
    assert "s3cret" not in repr(config)
    assert 'driver_options={"token": "***", "port": "***"}' in repr(config)
    assert config.driver_options == {"token": "s3cret", "port": 4222}
    assert hash(config) == hash(_env(driver_options='{"port": 4222, "token": "s3cret"}'))
    assert Config(driver_options={"a": 1}).driver_options == DriverOptions({"a": 1})


# -- URLs ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "cls", "shows"),
    [
        ("redis://cache.internal:6380/2", RedisDriver, "redis://cache.internal:6380/2"),
        ("rediss://u:pw@cache.internal:6380/0", RedisDriver, "rediss://u:***@cache.internal"),
        ("postgresql://u:pw@db.internal:5433/app", PostgresDriver, "@db.internal:5433/app"),
        ("postgres://u@db.internal/app", PostgresDriver, "@db.internal/app"),
        ("mysql://u@my.internal:3307/app", MySQLDriver, "my.internal:3307/app"),
        ("sqlite:///relative/jobs.db", SQLiteDriver, "<SQLiteDriver relative/jobs.db>"),
        ("sqlite:////var/lib/jobs.db", SQLiteDriver, "<SQLiteDriver /var/lib/jobs.db>"),
        ("memory://", MemoryDriver, ""),
    ],
)
def test_a_url_picks_the_driver_and_its_address(url: str, cls: type, shows: str) -> None:
    driver = DriverFactory.from_url(url)
    assert type(driver) is cls
    assert shows in repr(driver)


def test_amqp_urls_are_rabbitmqs() -> None:
    assert URL_SCHEMES["amqp"] == URL_SCHEMES["amqps"] == ("rabbitmq", "rabbitmq_url")


def test_from_url_takes_options_and_other_settings_from_the_config() -> None:
    config = _env(redis_prefix="app", keep_completed_tasks="true")
    driver = DriverFactory.from_url("redis://localhost:6379/0", config=config)
    assert isinstance(driver, RedisDriver)
    assert (driver.keys.prefix, driver.keep_completed) == ("app", True)
    driver = DriverFactory.from_url("redis://localhost:6379/0", config=config, prefix="mine")
    assert isinstance(driver, RedisDriver) and driver.keys.prefix == "mine"


def test_from_url_ignores_options_meant_for_another_driver() -> None:
    config = _env(driver=TINY, driver_options='{"greeting": "hi"}')
    assert isinstance(DriverFactory.from_url("redis://localhost/0", config=config), RedisDriver)


@pytest.mark.usefixtures("third_party")
def test_a_registered_drivers_name_is_its_url_scheme() -> None:
    driver = DriverFactory.from_url("tiny://somewhere:1234", greeting="hey")
    assert isinstance(driver, TinyDriver)
    assert (driver.url, driver.greeting) == ("tiny://somewhere:1234", "hey")


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("nats://user:s3cret@host:4222", "no driver for the URL 'nats://user:***@host:4222'"),
        ("sqlite://", "names no file"),
        ("localhost:6379", "no driver for the URL"),
    ],
)
def test_a_url_without_a_driver_says_which_schemes_exist(url: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        DriverFactory.from_url(url)
    assert expected in str(caught.value) and "s3cret" not in str(caught.value)

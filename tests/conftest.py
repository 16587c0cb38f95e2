"""Brokers under test: which run, and a run that fails when one of them is missing.

Tests taking the ``backend`` fixture run once per broker of tests/backends.py (all of
them unless ``only_backends`` narrows a test). Before any test runs, the session
connects to each broker the collected tests need; one that does not answer fails
the whole run at once, with a line naming the server and how to start it. Leaving
brokers out is for a developer's machine, and explicit: ``--backends
memory,sqlite`` (or ``ASYNCTASQ_TEST_BACKENDS=memory,sqlite``) deselects the other
brokers' tests, ``--allow-missing-brokers`` deselects those of brokers that do not
answer. CI passes neither, so CI never skips a broker.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

import tests.services as services
from asynctasq.config import set_global_config
from asynctasq.drivers.capabilities import Capability, unsupported
from tests.backends import BACKENDS, Backend
from tests.hypothesis_profiles import load_profile

load_profile()  # HYPOTHESIS_PROFILE=deep (make test-deep) for the long property runs

_SELECTED = pytest.StashKey[list[str]]()
_LEFT_OUT = pytest.StashKey[dict[str, str]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backends",
        default=os.environ.get("ASYNCTASQ_TEST_BACKENDS") or None,
        help=f"comma-separated brokers to run driver tests on (default: all: {', '.join(BACKENDS)})"
        "; also ASYNCTASQ_TEST_BACKENDS",
    )
    parser.addoption(
        "--allow-missing-brokers",
        action="store_true",
        help="deselect the tests of brokers that do not answer, instead of failing the run "
        "(on your machine only; CI never passes this)",
    )


def pytest_configure(config: pytest.Config) -> None:
    chosen = config.getoption("--backends")
    if chosen is None:
        selected = list(BACKENDS)
    else:
        selected = [name.strip() for name in chosen.split(",") if name.strip()]
        unknown = [name for name in selected if name not in BACKENDS]
        if unknown:
            raise pytest.UsageError(
                f"--backends: unknown broker(s) {', '.join(unknown)}; "
                f"the brokers are {', '.join(BACKENDS)}"
            )
    config.stash[_SELECTED] = selected
    config.stash[_LEFT_OUT] = {}
    services.ALLOW_MISSING = bool(config.getoption("--allow-missing-brokers"))
    if _is_xdist_controller(config) and not services.ALLOW_MISSING:
        # the test processes check again at collection, but a failure there reads as an
        # xdist crash: the controller checks every selected broker first, and says which
        missing = services.unreachable({name: BACKENDS[name] for name in selected})
        if missing:
            others = [name for name in selected if name not in missing]
            pytest.exit(
                "\n".join(_missing_lines(missing, others)),
                returncode=pytest.ExitCode.USAGE_ERROR,
            )


def _is_xdist_controller(config: pytest.Config) -> bool:
    """Running tests on xdist processes, and this is the process that hands them out."""
    workers = getattr(config.option, "numprocesses", None)
    return bool(workers) and not hasattr(config, "workerinput") and not config.option.collectonly


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        wanted = getattr(metafunc.function, "backends", None)
        names = [b for b in BACKENDS if wanted is None or b in wanted]
        metafunc.parametrize("backend_name", names)


def _backend_of(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    return None if callspec is None else callspec.params.get("backend_name")


#: folders of tests that kill processes or hold leases against the clock
SERIAL_DIRS = ("chaos",)
#: brokers whose test server serves one test at a time well: MongoDB's emulator is one
#: Python process, and three test processes at once slow it past the contract's timings;
#: their tests all go to one test process (xdist group), one after another
ONE_AT_A_TIME_BACKENDS = ("mongodb",)


def pytest_itemcollected(item: pytest.Item) -> None:
    """``serial``: a test `make pytest` runs alone, after the parallel run of the rest
    (those under tests/chaos and the ones marked slow: they time real processes). The
    tests of ONE_AT_A_TIME_BACKENDS share one xdist group. ``ci_backends(...)``: a long
    run whose other brokers are ``deep`` (make test-deep runs them; CI keeps these)."""
    ci_only = item.get_closest_marker("ci_backends")
    if ci_only is not None and _backend_of(item) not in ci_only.args:
        item.add_marker(pytest.mark.deep)  # this broker's run is make test-deep's
    in_serial_dir = item.path.parent.name in SERIAL_DIRS
    if in_serial_dir or item.get_closest_marker("slow"):
        item.add_marker(pytest.mark.serial)
    elif (backend := _backend_of(item)) in ONE_AT_A_TIME_BACKENDS:
        item.add_marker(pytest.mark.xdist_group(backend))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Captured output and failure text made UTF-8 safe: hostile error text holds lone
    surrogates, which pytest-xdist cannot send from a worker process to the controller
    (the test would have to run outside the parallel phase)."""
    outcome = yield
    report = outcome.get_result()
    report.sections = [(title, _utf8_safe(text)) for title, text in report.sections]
    if isinstance(report.longrepr, str):
        report.longrepr = _utf8_safe(report.longrepr)
    elif report.longrepr is not None and not _encodable(str(report.longrepr)):
        report.longrepr = _utf8_safe(str(report.longrepr))


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _utf8_safe(text: str) -> str:
    return text if _encodable(text) else text.encode("utf-8", "backslashreplace").decode()


@pytest.hookimpl(trylast=True)  # after -k and -m: only the brokers of tests that will run
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    selected = set(config.stash[_SELECTED])
    kept = [i for i in items if _backend_of(i) in selected or _backend_of(i) is None]
    used = {name: BACKENDS[name] for i in kept if (name := _backend_of(i)) is not None}
    missing = services.unreachable(used) if used and not config.option.collectonly else {}
    if missing and not services.ALLOW_MISSING:
        _fail_the_run(config, missing, sorted(selected - set(missing), key=list(BACKENDS).index))
    config.stash[_LEFT_OUT] = missing
    kept = [i for i in kept if _backend_of(i) not in missing]
    keeping = set(kept)
    deselected = [i for i in items if i not in keeping]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


def _missing_lines(missing: dict[str, str], others: list[str]) -> list[str]:
    without = ",".join(others) or "memory"
    return [
        f"{name}: {services.SERVICES.get(name, 'its server')} is not reachable ({reason}). "
        f"Start it: {services.START}. To run without it on your machine: "
        f"--backends {without} (or --allow-missing-brokers)"
        for name, reason in missing.items()
    ]


def _fail_the_run(config: pytest.Config, missing: dict[str, str], others: list[str]) -> None:
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    for line in _missing_lines(missing, others):
        if reporter is not None:
            reporter.write_line(line, red=True, bold=True)
    pytest.exit(
        f"{len(missing)} broker(s) the selected tests need did not answer: "
        f"{', '.join(missing)} (see above)",
        returncode=pytest.ExitCode.USAGE_ERROR,
    )


def pytest_report_header(config: pytest.Config) -> str:
    return f"brokers: {', '.join(config.stash[_SELECTED])}"


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    for name, reason in terminalreporter.config.stash.get(_LEFT_OUT, {}).items():
        terminalreporter.write_line(
            f"left out (--allow-missing-brokers): {name}, not reachable ({reason})",
            yellow=True,
        )


@pytest.fixture
async def backend(backend_name: str, tmp_path: Path) -> AsyncIterator[Backend]:
    instance = BACKENDS[backend_name](tmp_path)
    await instance.setup()
    try:
        yield instance
    finally:
        await instance.teardown()


@pytest.fixture(autouse=True)
def _fresh_global_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's .env or writes asynctasq.db in the checkout."""
    for key in list(os.environ):
        if key.startswith("ASYNCTASQ_") and key != "ASYNCTASQ_TEST_BACKENDS":
            monkeypatch.delenv(key)
    monkeypatch.setenv("ASYNCTASQ_SQLITE_PATH", str(tmp_path / "global.db"))
    set_global_config(None)


def skip_without(backend: Backend, *capabilities: type[Capability]) -> None:
    """Skip, naming them, when the backend's driver does not declare ``capabilities``."""
    missing = unsupported(backend.make_driver(), capabilities)
    if missing:
        pytest.skip(f"the {backend.name} driver does not declare {', '.join(missing)}")


def only_backends(*names: str):  # type: ignore[no-untyped-def]
    """Run a backend-parametrized test on these brokers only."""

    def mark(fn):  # type: ignore[no-untyped-def]
        fn.backends = names
        return fn

    return mark

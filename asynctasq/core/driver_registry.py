"""Which driver class a name or an import path means.

``ASYNCTASQ_DRIVER`` is either

* a **name** registered in the entry-point group ``asynctasq.drivers``. Our own
  drivers are registered there (pyproject.toml); another package registers its own::

      [project.entry-points."asynctasq.drivers"]
      nats = "asynctasq_nats.driver:NatsDriver [nats]"

  (the optional ``[extra]`` names the extra of that package that brings the
  driver's client library: an import that fails says to install it); or
* an **import path** ``package.module:ClassName``, for a driver that is not
  registered at all (your own code).

A driver module is imported only when chosen, so client libraries stay optional.
The names of our own drivers are also kept in ``BUILTIN_DRIVERS`` below (a test
checks it matches pyproject.toml): a source checkout, or an install made before a
driver was added, still finds them; and no other package can take over one of them.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from asynctasq.config_values import DRIVER_IMPORT_PATH, ConfigError
from asynctasq.drivers.base import Driver

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

__all__ = [
    "BUILTIN_DRIVERS",
    "ENTRY_POINT_GROUP",
    "DriverImportError",
    "DriverSpec",
    "available_drivers",
    "find_driver",
    "load_driver",
    "shared_across_processes",
]

log = logging.getLogger("asynctasq.drivers")

ENTRY_POINT_GROUP = "asynctasq.drivers"


class DriverImportError(ImportError):
    """The chosen driver's module (or the client library it needs) cannot be imported."""


@dataclass(frozen=True)
class DriverSpec:
    """Where a driver lives, before it is imported."""

    name: str
    #: ``package.module:Attribute``
    target: str
    #: the extras of ``distribution`` that bring the driver's client library
    extras: tuple[str, ...] = ()
    #: the package that registered it (None: an import path)
    distribution: str | None = "asynctasq"
    #: a built-in driver's client library (the top-level module its extra installs)
    library: str | None = None

    def install_hint(self) -> str:
        if self.distribution is None:
            return "install the package that provides it"
        extras = f"[{','.join(self.extras)}]" if self.extras else ""
        return f'pip install "{self.distribution}{extras}"'


def _builtin(
    name: str, target: str, extra: str | None = None, library: str | None = None
) -> DriverSpec:
    return DriverSpec(name, target, (extra,) if extra else (), library=library)


BUILTIN_DRIVERS: dict[str, DriverSpec] = {
    spec.name: spec
    for spec in (
        _builtin("memory", "asynctasq.drivers.memory:MemoryDriver"),
        _builtin("sqlite", "asynctasq.drivers.sqlite:SQLiteDriver"),  # (the standard sqlite3)
        _builtin("redis", "asynctasq.drivers.redis:RedisDriver", "redis", "redis"),
        _builtin("postgres", "asynctasq.drivers.postgres:PostgresDriver", "postgres", "asyncpg"),
        _builtin("mysql", "asynctasq.drivers.mysql:MySQLDriver", "mysql", "aiomysql"),
        _builtin("rabbitmq", "asynctasq.drivers.rabbitmq:RabbitMQDriver", "rabbitmq", "aio_pika"),
        _builtin("mongodb", "asynctasq.drivers.mongodb:MongoDBDriver", "mongodb", "pymongo"),
    )
}

#: built-in drivers whose broker lives inside one process (Driver.shared_across_processes
#: False); a test checks it against the classes
PROCESS_LOCAL = frozenset({"memory"})


def available_drivers() -> dict[str, DriverSpec]:
    """Every driver name: ours, then those other installed packages register."""
    # here, not at the top: reading the installed packages' metadata costs a worker
    # of a built-in driver milliseconds at start-up for nothing
    from importlib.metadata import entry_points

    found = dict(BUILTIN_DRIVERS)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        spec = _from_entry_point(entry)
        owner = found.get(spec.name)
        if owner is None:
            found[spec.name] = spec
        elif owner.target != spec.target and spec.distribution != "asynctasq":
            log.warning(
                "package %s registers a driver named %r, which %s already provides: ignored",
                spec.distribution,
                spec.name,
                owner.distribution,
            )
    return found


def find_driver(setting: str) -> DriverSpec:
    """The driver ``setting`` (a name or an import path) means, not yet imported;
    ConfigError naming the choices when it means none."""
    if DRIVER_IMPORT_PATH.fullmatch(setting):
        return DriverSpec(setting.rsplit(":", 1)[1], setting, distribution=None)
    spec = BUILTIN_DRIVERS.get(setting)  # (no scan of installed packages for ours)
    if spec is not None:
        return spec
    known = available_drivers()
    spec = known.get(setting)
    if spec is None:
        raise ConfigError(_unknown(setting, known))
    return spec


def shared_across_processes(spec: DriverSpec) -> bool:
    """Whether several processes can share the broker of ``spec``'s driver
    (``Driver.shared_across_processes``). For a built-in driver this is known without
    importing it (nor its client library, which the supervisor of ``--processes`` would
    wait for before it starts its workers); its library is looked for, so that a missing
    one fails here as loading the driver would. Another driver is imported to ask it."""
    if BUILTIN_DRIVERS.get(spec.name) is spec:
        library = spec.library
        if library is not None and importlib.util.find_spec(library) is None:
            missing = ModuleNotFoundError(f"No module named {library!r}", name=library)
            module_name = spec.target.partition(":")[0]
            raise DriverImportError(_import_failed(spec, module_name, missing))
        return spec.name not in PROCESS_LOCAL
    return load_driver(spec).shared_across_processes


def load_driver(spec: DriverSpec) -> type[Driver]:
    """Import the driver class; DriverImportError says what to install."""
    module_name, _, attribute = spec.target.partition(":")
    try:
        found: object = importlib.import_module(module_name)
    except ImportError as exc:
        raise DriverImportError(_import_failed(spec, module_name, exc)) from exc
    for part in attribute.split("."):
        try:
            found = getattr(found, part)
        except AttributeError:
            raise DriverImportError(
                f"driver {spec.name!r}: module {module_name} has no attribute {attribute!r} "
                f"(ASYNCTASQ_DRIVER={spec.target if spec.distribution is None else spec.name})"
            ) from None
    if not (isinstance(found, type) and issubclass(found, Driver)):
        raise ConfigError(
            f"ASYNCTASQ_DRIVER: {spec.target} is not a driver class: a driver subclasses "
            "asynctasq.drivers.base.Driver (see docs/drivers/custom.md)"
        )
    return found


def _from_entry_point(entry: EntryPoint) -> DriverSpec:
    distribution = entry.dist.name if entry.dist is not None else None
    target = entry.value.split("[", 1)[0].strip()
    return DriverSpec(entry.name, target, tuple(entry.extras), distribution or "?")


def _unknown(setting: str, known: dict[str, DriverSpec]) -> str:
    ours = ", ".join(sorted(n for n, s in known.items() if s.distribution == "asynctasq"))
    others = ", ".join(
        f"{n} (from {s.distribution})"
        for n, s in sorted(known.items())
        if s.distribution != "asynctasq"
    )
    if "." in setting:
        shape = "an import path names its class after a colon, e.g. mypkg.broker:MyDriver"
    else:
        shape = "no installed package registers that name"
    return (
        f"ASYNCTASQ_DRIVER={setting!r} is not a known driver ({shape}): choose one of "
        f"{ours}{'; installed: ' + others if others else ''}; or give the import path of "
        "your own driver class, module:Class"
    )


def _import_failed(spec: DriverSpec, module_name: str, exc: ImportError) -> str:
    missing = exc.name or ""
    if missing and (module_name == missing or module_name.startswith(missing + ".")):
        where = "is not installed" if spec.distribution is None else "is missing"
        return (
            f"the {spec.name} driver's module {module_name} {where} ({exc}); {spec.install_hint()}"
        )
    library = f"the {missing.partition('.')[0]} library" if missing else "a library"
    return f"the {spec.name} driver needs {library} ({exc}): {spec.install_hint()}"

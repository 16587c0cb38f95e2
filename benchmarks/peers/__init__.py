"""The systems the suite compares: asynctasq on each broker, and its Python peers.

Each peer module holds the peer's jobs (its worker imports the module) and its
adapter (benchmarks.suite.protocol.System); it runs in the peer's own virtualenv
under benchmarks/.venv-peers/<venv>/, built from benchmarks/requirements-peers.txt.
Every Redis peer owns one database number (9-15), flushed between steps; every
PostgreSQL peer owns a database created and dropped by the run.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    name: str
    #: "module:Class" of the adapter
    target: str
    broker: str
    #: group of requirements-peers.txt, None for asynctasq (the project's virtualenv)
    venv: str | None = None
    redis_db: int | None = None
    #: the asynctasq driver it needs (skipped with the reason when it cannot load)
    driver: str | None = None
    #: part of a plain `python -m benchmarks` run
    default: bool = True

    @property
    def ours(self) -> bool:
        return self.venv is None


_ENTRIES = [
    Entry("asynctasq-redis", "benchmarks.peers.ours:RedisSystem", "redis",
          driver="redis"),
    Entry("arq", "benchmarks.peers.arq:ArqSystem", "redis", venv="arq", redis_db=10),
    Entry("saq", "benchmarks.peers.saq:SaqSystem", "redis", venv="saq", redis_db=11),
    Entry("taskiq", "benchmarks.peers.taskiq:TaskiqSystem", "redis", venv="taskiq", redis_db=12),
    Entry("celery", "benchmarks.peers.celery:CelerySystem", "redis", venv="celery", redis_db=13),
    Entry("dramatiq", "benchmarks.peers.dramatiq:DramatiqSystem", "redis", venv="dramatiq",
          redis_db=14),
    Entry("rq", "benchmarks.peers.rq:RqSystem", "redis", venv="rq", redis_db=15),
    Entry("huey", "benchmarks.peers.huey:HueySystem", "redis", venv="huey", redis_db=9),
    Entry("asynctasq-postgres", "benchmarks.peers.ours:PostgresSystem", "postgres",
          driver="postgres"),
    Entry("procrastinate", "benchmarks.peers.procrastinate:ProcrastinateSystem", "postgres",
          venv="procrastinate"),
    Entry("saq-postgres", "benchmarks.peers.saq_postgres:SaqPostgresSystem", "postgres",
          venv="saq"),
    # no peer on these: asynctasq alone (the 100-caller enqueue, group commit)
    Entry("asynctasq-mysql", "benchmarks.peers.ours:MySQLSystem", "mysql", driver="mysql"),
    Entry("asynctasq-sqlite", "benchmarks.peers.ours:SQLiteSystem", "sqlite", driver="sqlite"),
]  # fmt: skip
ENTRIES = {e.name: e for e in _ENTRIES}

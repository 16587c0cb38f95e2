"""The PostgreSQL driver (``ASYNCTASQ_DRIVER=postgres``; ``pip install "asynctasq[postgres]"``).

See docs/drivers/postgres.md for the schema, migrations, transactional enqueue and
tuning.
"""

from asynctasq.drivers.postgres.driver import PostgresDriver

__all__ = ["PostgresDriver"]

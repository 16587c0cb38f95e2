"""The Redis driver (``ASYNCTASQ_DRIVER=redis``): standalone Redis or Redis Cluster.

``from asynctasq.drivers.redis import RedisDriver``
"""

from asynctasq.drivers.redis.redis_py import import_redis_py

import_redis_py()  # before any module of this package imports redis: see redis_py.py

from asynctasq.drivers.redis.driver import RedisDriver  # noqa: E402

__all__ = ["RedisDriver"]

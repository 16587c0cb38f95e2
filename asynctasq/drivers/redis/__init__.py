"""The Redis driver (``ASYNCTASQ_DRIVER=redis``): standalone Redis or Redis Cluster.

``from asynctasq.drivers.redis import RedisDriver``
"""

from asynctasq.drivers.redis.driver import RedisDriver

__all__ = ["RedisDriver"]

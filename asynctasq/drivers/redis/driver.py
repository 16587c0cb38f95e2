"""``RedisDriver``: standalone Redis or Redis Cluster (``ASYNCTASQ_DRIVER=redis``).

Assembled from one piece per concern, all over the plumbing of base.py:

* core.py: the core every broker implements (enqueue, claim, settle, renew,
  recover), and waiting.py: how an idle ``reserve()`` waits (BLPOP);
* admin.py: the capabilities Inspection, Management, Removal, Pausing and
  ProgressStore;
* registry.py: the capability WorkerRegistry;
* schedules.py: the capability Schedules (repeatable and cron jobs).

``enqueue`` honours ``unique_key`` (UniqueKeys). See ``docs/drivers/redis.md``.
"""

from __future__ import annotations

from typing import Any

from asynctasq.config import Config
from asynctasq.drivers.capabilities import (
    ConcurrencyKeys,
    Deduplication,
    Dependencies,
    Expiry,
    Inspection,
    Management,
    Pausing,
    ProgressStore,
    RateLimits,
    Removal,
    RunningCancellation,
    Schedules,
    UniqueKeys,
    WorkerRegistry,
)
from asynctasq.drivers.redis.admin import RedisAdmin
from asynctasq.drivers.redis.rates import RedisRates
from asynctasq.drivers.redis.registry import RedisWorkers
from asynctasq.drivers.redis.results import RedisFlows, RedisResults
from asynctasq.drivers.redis.schedules import RedisSchedules
from asynctasq.drivers.redis.slots import RedisSlots
from asynctasq.drivers.redis.waiting import RedisWaiting

__all__ = ["RedisDriver"]


class RedisDriver(
    RedisAdmin,
    RedisResults,
    RedisFlows,
    RedisRates,
    RedisWorkers,
    RedisSchedules,
    RedisSlots,
    RedisWaiting,
    Inspection,
    Management,
    Removal,
    Pausing,
    WorkerRegistry,
    ProgressStore,
    UniqueKeys,
    Deduplication,
    Dependencies,
    Schedules,
    Expiry,
    RunningCancellation,
    RateLimits,
    ConcurrencyKeys,
):
    @classmethod
    def from_config(cls, config: Config, **options: Any) -> RedisDriver:
        """The driver the settings describe; ``options`` (keyword arguments of the
        constructor, e.g. ``clock``) override them."""
        settings: dict[str, Any] = {
            "password": config.redis_password,
            "prefix": config.redis_prefix,
            "max_connections": config.redis_max_connections,
            "cluster": config.redis_cluster,
            "keep_completed": config.keep_completed_tasks,
            "completed_ttl": config.completed_ttl,
            "dead_letter_ttl": config.redis_dead_letter_ttl,
            "dead_letter_max": config.redis_dead_letter_max,
        }
        return cls(config.redis_url, **{**settings, **options})

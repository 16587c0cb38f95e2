"""The throughput benchmark (benchmarks/throughput.py) on a Redis Cluster: three
masters this script starts on free loopback ports and stops afterwards.

    python -m benchmarks.redis_cluster --runs 3 --delayed 100

Takes the options of benchmarks.throughput (the driver is redis). Needs redis-server
and redis-cli (Redis 7) on PATH.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

import tests.backends  # noqa: F401  (first: it loads tests.backends_redis itself)
from benchmarks import throughput
from tests.backends_redis import RedisCluster


def main() -> None:
    if shutil.which("redis-server") is None or shutil.which("redis-cli") is None:
        sys.exit("redis-server and redis-cli (Redis 7) are needed to start a cluster")
    folder = Path(tempfile.mkdtemp(prefix="asynctasq-bench-cluster-"))
    cluster = RedisCluster(folder)
    cluster.start()
    try:
        os.environ["ASYNCTASQ_REDIS_URL"] = cluster.url
        os.environ["ASYNCTASQ_REDIS_CLUSTER"] = "true"
        sys.argv = ["benchmarks.redis_cluster", "--driver", "redis", *sys.argv[1:]]
        throughput.main()
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

"""Redis Cluster stores records exactly as a single Redis does: the same corruptions."""

from tests.hostile.corrupt_redis import CORRUPTIONS

__all__ = ["CORRUPTIONS"]

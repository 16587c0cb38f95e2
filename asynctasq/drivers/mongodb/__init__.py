"""MongoDB driver (``pip install "asynctasq[mongodb]"``): see docs/drivers/mongodb.md."""

from asynctasq.drivers.mongodb.driver import MongoDBDriver

__all__ = ["MongoDBDriver"]

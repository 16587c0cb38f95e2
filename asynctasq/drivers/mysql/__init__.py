"""The MySQL / MariaDB driver (aiomysql): ``ASYNCTASQ_DRIVER=mysql``."""

from asynctasq.drivers.mysql.driver import MySQLDriver

__all__ = ["MySQLDriver"]

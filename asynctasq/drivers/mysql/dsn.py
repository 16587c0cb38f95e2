"""``mysql://user:password@host:port/database?option=value`` -> aiomysql settings."""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from asynctasq.redaction import redact

__all__ = ["MySQLSettings"]

_SCHEMES = ("mysql", "mariadb", "mysql+aiomysql")
_TRUE = ("1", "true", "yes", "on", "required")
_FALSE = ("0", "false", "no", "off", "disabled")


@dataclass(frozen=True)
class MySQLSettings:
    host: str = "localhost"
    port: int = 3306
    user: str = "root"
    password: str = field(default="", repr=False)
    database: str = ""
    unix_socket: str | None = None
    ssl: bool = False
    connect_timeout: float = 10.0

    @classmethod
    def from_dsn(cls, dsn: str) -> MySQLSettings:
        def invalid(why: str) -> ValueError:
            # the DSN is echoed to help, never its password
            return ValueError(
                f"invalid MySQL DSN {redact(dsn)!r} (ASYNCTASQ_MYSQL_DSN): {why}; use "
                "mysql://user:password@host:3306/database (percent-encode special "
                "characters of the password)"
            )

        try:
            parts = urlsplit(dsn)
        except ValueError as exc:  # e.g. an unbalanced [ of an IPv6 host
            raise invalid(str(exc)) from None
        if parts.scheme not in _SCHEMES:
            raise invalid(f"the scheme must be one of {', '.join(_SCHEMES)}")
        database = unquote(parts.path.lstrip("/"))
        if not database or "/" in database:
            raise invalid("name the database after the host")
        try:
            port = parts.port or 3306
        except ValueError:
            raise invalid("the port must be a number") from None
        options = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        unknown = set(options) - {"unix_socket", "ssl", "connect_timeout"}
        if unknown:
            raise invalid(
                f"unknown option(s) {', '.join(sorted(unknown))} "
                "(known: unix_socket, ssl, connect_timeout)"
            )
        use_ssl = options.get("ssl", "false").lower()
        if use_ssl not in _TRUE + _FALSE:
            raise invalid("ssl must be true or false")
        try:
            timeout = float(options.get("connect_timeout", 10))
        except ValueError:
            raise invalid("connect_timeout must be a number of seconds") from None
        return cls(
            host=parts.hostname or "localhost",
            port=port,
            user=unquote(parts.username or "root"),
            password=unquote(parts.password or ""),
            database=database,
            unix_socket=options.get("unix_socket"),
            ssl=use_ssl in _TRUE,
            connect_timeout=timeout,
        )

    @property
    def where(self) -> str:
        """The server and database, for logs and errors (never the password)."""
        place = self.unix_socket or f"{self.host}:{self.port}"
        return f"mysql://{self.user}@{place}/{self.database}"

    def connect_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "db": self.database,
            "connect_timeout": self.connect_timeout,
        }
        if self.unix_socket:
            kwargs["unix_socket"] = self.unix_socket
        if self.ssl:
            kwargs["ssl"] = ssl.create_default_context()
        return kwargs

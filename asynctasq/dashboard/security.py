"""Who may use the dashboard, and proof that a button press came from its own page.

Authentication: a token, given as ``Authorization: Bearer <token>`` or as the password
of basic auth (any user name; the browser asks for it). Actions (every POST) also carry
a CSRF token: an HMAC of the app's secret, so a form on another site, which the browser
would send with the user's basic-auth credentials, is refused.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import ipaddress
import secrets
import socket

from starlette.requests import Request

__all__ = ["AuthRequired", "Guard", "is_loopback"]

REALM = 'Basic realm="asynctasq dashboard", charset="UTF-8"'


class AuthRequired(RuntimeError):
    """Raised when the dashboard would listen off the loopback interface with no token."""


def is_loopback(host: str) -> bool:
    """True when ``host`` (name or address) only reaches this machine."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    return bool(addresses) and all(ipaddress.ip_address(a).is_loopback for a in addresses)


class Guard:
    def __init__(self, token: str | None) -> None:
        self.token = token or None
        # without a token the CSRF secret is random: forms die with the process
        key = token if token else secrets.token_hex(32)
        self._csrf_key = hashlib.sha256(b"asynctasq-dashboard-csrf:" + key.encode()).digest()

    def allows(self, request: Request) -> bool:
        if self.token is None:
            return True
        given = _presented_token(request.headers.get("authorization", ""))
        return given is not None and hmac.compare_digest(given.encode(), self.token.encode())

    def csrf_token(self) -> str:
        return hmac.new(self._csrf_key, b"actions", hashlib.sha256).hexdigest()

    def csrf_ok(self, request: Request, submitted: str | None) -> bool:
        if not submitted or not hmac.compare_digest(submitted, self.csrf_token()):
            return False
        # a browser names the page a POST came from: it must be this very site
        origin = request.headers.get("origin")
        return origin is None or _same_site(origin, request)


def _presented_token(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2]
    return None


def _same_site(origin: str, request: Request) -> bool:
    host = request.headers.get("host", "")
    return origin.split("://", 1)[-1].rstrip("/") == host

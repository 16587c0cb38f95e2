"""rediss://: the driver over TLS, with a password, against a server of the test's
own (self-signed certificate made here; nothing is read from the machine)."""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
from collections.abc import Iterator
from pathlib import Path

import pytest

from asynctasq.drivers.base import DriverError
from asynctasq.drivers.redis import RedisDriver
from asynctasq.testing.conformance.contract import make_job, reserve
from tests.backends_redis import RedisServer, free_port
from tests.services import missing_service

PASSWORD = "s3cret-tls"


def _self_signed(folder: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[int, Path]]:
    cert, key = _self_signed(tmp_path / "tls")
    tls_port = free_port()
    server = RedisServer(
        tmp_path / "redis",
        "--tls-port", str(tls_port),
        "--tls-cert-file", str(cert),
        "--tls-key-file", str(key),
        "--tls-ca-cert-file", str(cert),
        "--tls-auth-clients", "no",
        "--requirepass", PASSWORD,
    )  # fmt: skip
    try:
        server.start()
    except RuntimeError as exc:
        if "tls" in str(exc).lower():
            missing_service(f"this redis-server has no TLS support (build it with TLS): {exc}")
        raise
    try:
        yield tls_port, cert
    finally:
        server.stop(kill=True)


async def test_jobs_flow_over_tls_with_a_password(tls_server: tuple[int, Path]) -> None:
    port, cert = tls_server
    url = f"rediss://127.0.0.1:{port}/0?ssl_ca_certs={cert}"
    driver = RedisDriver(url, password=PASSWORD, prefix="tls")  # ASYNCTASQ_REDIS_PASSWORD
    await driver.connect()
    try:
        await driver.enqueue([make_job()])
        (job,) = await reserve(driver)
        assert await driver.complete(job)
        waiter = asyncio.create_task(reserve(driver, wait=5))  # the blocking claim, on TLS
        await asyncio.sleep(0.1)
        await driver.enqueue([second := make_job()])
        assert [j.id for j in await asyncio.wait_for(waiter, 5)] == [second.id]
    finally:
        await driver.disconnect()


async def test_a_wrong_password_or_certificate_is_a_clear_error(
    tls_server: tuple[int, Path],
) -> None:
    port, cert = tls_server
    wrong = RedisDriver(f"rediss://:nope-{PASSWORD}@127.0.0.1:{port}/0?ssl_ca_certs={cert}")
    with pytest.raises(DriverError, match="cannot reach Redis") as caught:
        await wrong.connect()
    assert PASSWORD not in str(caught.value)
    untrusted = RedisDriver(f"rediss://:{PASSWORD}@127.0.0.1:{port}/0")  # no CA given
    with pytest.raises(DriverError, match="cannot reach Redis") as caught:
        await untrusted.connect()
    assert PASSWORD not in str(caught.value)

"""Defect 7 of the hostile-input review: secrets leaked into logs and events.

One function, ``asynctasq.redaction.redact``, hides them everywhere. This is its
table: the URL and DSN shapes of all four brokers, the passwords that broke the old
pattern (``@``, ``:``, ``/``, ``?``, ``#``, ``%``), and the text around them that must
survive.
"""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from asynctasq.config import Config, redact_secrets, redact_url
from asynctasq.redaction import redact
from tests.hypothesis_profiles import examples

PW = "s3cr3t"

# (text, what it must become)
TABLE: dict[str, tuple[str, str]] = {
    # Redis
    "redis user:pass": ("redis://app:s3cr3t@cache:6379/0", "redis://app:***@cache:6379/0"),
    "redis password only": ("redis://:s3cr3t@cache:6379", "redis://:***@cache:6379"),
    "rediss (TLS)": ("rediss://default:s3cr3t@cache:6380/2", "rediss://default:***@cache:6380/2"),
    "redis ?password=": (
        "redis://cache:6379/0?password=s3cr3t&db=1",
        "redis://cache:6379/0?password=***&db=1",
    ),
    "redis unix socket ?password=": (
        "unix:///run/redis.sock?password=s3cr3t&db=0",
        "unix:///run/redis.sock?password=***&db=0",
    ),
    "redis unix socket user:pass": (
        "unix://app:s3cr3t@/run/redis.sock?db=0",
        "unix://app:***@/run/redis.sock?db=0",
    ),
    "redis sentinel, two hosts": (
        "redis+sentinel://:s3cr3t@s1:26379,s2:26379/mymaster/0",
        "redis+sentinel://:***@s1:26379,s2:26379/mymaster/0",
    ),
    "redis cluster, a password per node": (
        "redis://a:s3cr3t@n1:7000,b:s3cr3t2@n2:7001",
        "redis://a:***@n2:7001",
    ),
    # PostgreSQL
    "postgresql user:pass": (
        "postgresql://app:s3cr3t@db:5432/prod",
        "postgresql://app:***@db:5432/prod",
    ),
    "postgres scheme": ("postgres://app:s3cr3t@db/prod", "postgres://app:***@db/prod"),
    "postgresql multiple hosts": (
        "postgresql://app:s3cr3t@db1:5432,db2:5433/prod?target_session_attrs=read-write",
        "postgresql://app:***@db1:5432,db2:5433/prod?target_session_attrs=read-write",
    ),
    "postgresql ?password= and sslpassword": (
        "postgresql://db/prod?user=app&password=s3cr3t&sslpassword=s3cr3t&sslmode=verify-full",
        "postgresql://db/prod?user=app&password=***&sslpassword=***&sslmode=verify-full",
    ),
    "libpq key=value": (
        "host=db port=5432 user=app password=s3cr3t dbname=prod",
        "host=db port=5432 user=app password=*** dbname=prod",
    ),
    "libpq quoted, with spaces and quotes": (
        "host=db password = 's3 cr\\'3t' dbname=prod",
        "host=db password = *** dbname=prod",
    ),
    # MySQL / MariaDB
    "mysql user:pass": (
        "mysql://root:s3cr3t@localhost:3306/test",
        "mysql://root:***@localhost:3306/test",
    ),
    "mysql+aiomysql": (
        "mysql+aiomysql://root:s3cr3t@db/test?ssl=true",
        "mysql+aiomysql://root:***@db/test?ssl=true",
    ),
    "mariadb unix socket": (
        "mariadb://root:s3cr3t@localhost/test?unix_socket=/run/mysqld.sock",
        "mariadb://root:***@localhost/test?unix_socket=/run/mysqld.sock",
    ),
    # passwords that broke the old pattern
    "password with @": ("redis://u:p@ss@host:6379/0", "redis://u:***@host:6379/0"),
    "password with : / ? # %": (
        "postgresql://u:p:a/s?s#w%rd@db/prod",
        "postgresql://u:***@db/prod",
    ),
    "percent-encoded password": (
        "mysql://u:p%40ss%3Aw%2Frd@db/test",
        "mysql://u:***@db/test",
    ),
    "password with a quote, in a repr": (
        'invalid DSN "mysql://u:it\'s@db/test" here',
        'invalid DSN "mysql://u:***@db/test" here',
    ),
    # free text: messages, tracebacks, reprs, JSON, headers
    "two URLs in a sentence": (
        "tried redis://:s3cr3t@a:6379 then postgresql://u:s3cr3t@b/db; both refused",
        "tried redis://:***@a:6379 then postgresql://u:***@b/db; both refused",
    ),
    "a dict repr": (
        "bad settings {'password': 's3cr3t', 'host': 'db'}",
        "bad settings {'password': '***', 'host': 'db'}",
    ),
    "JSON": ('{"api_key": "s3cr3t", "user": "x"}', '{"api_key": "***", "user": "x"}'),
    "keyword arguments in a traceback line": (
        "    connect(host=h, password=s3cr3t)",
        "    connect(host=h, password=***)",
    ),
    "names in any case": (
        "PASSWORD=s3cr3t Pwd=s3cr3t Token=s3cr3t access_token=s3cr3t",
        "PASSWORD=*** Pwd=*** Token=*** access_token=***",
    ),
    "presigned URL": (
        "https://b.s3/x?X-Amz-Credential=AK/2026&X-Amz-Signature=s3cr3t&versionId=3",
        "https://b.s3/x?X-Amz-Credential=***&X-Amz-Signature=***&versionId=3",
    ),
    "authorization header": ("Authorization: Bearer s3cr3t.abc", "Authorization: ***"),
    # what must stay as it is
    "a user without password": ("mysql://root@localhost/test", "mysql://root@localhost/test"),
    "an @ in a query": ("redis://cache/0?owner=a@b", "redis://cache/0?owner=a@b"),
    "names that only look alike": (
        "unique_key=k42 monkey=5 passenger=x",
        "unique_key=k42 monkey=5 passenger=x",
    ),
    "plain text": ("job 42 failed: ValueError: 3 > 2", "job 42 failed: ValueError: 3 > 2"),
}


@pytest.mark.parametrize(("text", "expected"), TABLE.values(), ids=TABLE.keys())
def test_the_table(text: str, expected: str) -> None:
    assert redact(text) == expected
    assert redact(expected) == expected  # redacting twice changes nothing


def test_the_former_names_are_the_same_function() -> None:
    assert redact_url is redact and redact_secrets is redact


def test_config_repr_hides_every_secret_setting() -> None:
    config = Config(
        redis_url="redis://u:p@ss@h/0",
        redis_password="plainsecret",
        postgres_dsn="host=db password=s3cr3t",
        mysql_dsn="mysql://root:s3cr3t@db/test",
        events_redis_url="redis://h/0?password=s3cr3t",
    )
    shown = repr(config)
    for secret in ("p@ss", "ss@h", "plainsecret", PW):
        assert secret not in shown


passwords = st.text(
    st.characters(
        blacklist_categories=("Cs", "Zs", "Zl", "Zp", "Cc"), blacklist_characters="<>'\""
    ),
    min_size=1,
    max_size=30,
)


@settings(max_examples=examples(200))
@given(passwords, st.sampled_from(["redis", "rediss", "postgresql", "postgres", "mysql"]))
def test_any_raw_password_in_a_url_is_hidden_whole(password: str, scheme: str) -> None:
    url = f"{scheme}://app:{password}@db.internal:1234/x"
    assert redact(url) == f"{scheme}://app:***@db.internal:1234/x"
    assert redact(f"error: cannot reach {url} (timeout)") == (
        f"error: cannot reach {scheme}://app:***@db.internal:1234/x (timeout)"
    )


@settings(max_examples=examples(200))
@given(passwords, st.sampled_from(["password", "PASSWORD", "pwd", "token", "sslpassword"]))
def test_any_password_in_a_query_or_a_libpq_dsn_is_hidden(password: str, name: str) -> None:
    encoded = quote(password, safe="")
    assert redact(f"redis://h/0?{name}={encoded}&db=1") == f"redis://h/0?{name}=***&db=1"
    quoted = "'" + password.replace("\\", "\\\\").replace("'", "\\'") + "'"
    assert redact(f"host=db {name}={quoted} user=u") == f"host=db {name}=*** user=u"

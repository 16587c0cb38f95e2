"""The Lua scripts in ``asynctasq/drivers/lua/``, and running them.

Each script is the part of ``_prelude.lua`` it uses (prelude.py) + its own file.
Calls go by EVALSHA with the SHA1 computed here, so no SCRIPT LOAD round trip is
needed; a server that does not know a script yet (restart, failover, a new Cluster
node) answers NOSCRIPT, and that one call is repeated with EVAL, which also caches
the script there.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from asynctasq.drivers.redis.connection import Client
from asynctasq.drivers.redis.lean import lean_connection_for
from asynctasq.drivers.redis.prelude import prelude_for

__all__ = ["SCRIPTS", "Call", "ScriptRunner", "reply_or_error"]

LUA_DIR = Path(__file__).resolve().parent.parent / "lua"

Arg = str | bytes | int | float


@dataclass(frozen=True, slots=True)
class Script:
    """One script: its name, its source (with the prelude) and its SHA1."""

    name: str
    source: bytes
    sha: str


@dataclass(frozen=True, slots=True)
class Call:
    """One script call: its KEYS and ARGV."""

    script: str
    keys: Sequence[str]
    args: Sequence[Arg]


#: the first line of a script that runs without any of the prelude (its own few
#: constants): the common dispatch, where even the prelude's constants cost per call
STANDALONE = "--! standalone"


class Scripts(dict[str, Script]):
    """The scripts by name, each read and hashed the first time it is looked up: a
    worker's start-up runs a few of them, and reading all of them was 1% of it
    (docs/benchmarks.md, "Start-up"). A looked-up script is a plain dict hit."""

    def __missing__(self, name: str) -> Script:
        path = LUA_DIR / f"{name}.lua"
        if name.startswith(("_", ".")) or "/" in name or not path.is_file():
            raise KeyError(name)
        own = path.read_text("utf-8")
        if own.startswith(STANDALONE):
            source = own.encode()
        else:
            source = f"{prelude_for(_prelude(), own)}\n{own}".encode()
        script = self[name] = Script(name, source, hashlib.sha1(source).hexdigest())
        return script

    def load_all(self) -> Scripts:
        """Every script of ``LUA_DIR`` loaded (for the checks that read them all)."""
        for path in sorted(LUA_DIR.glob("*.lua")):
            if not path.name.startswith("_"):
                self[path.stem]  # looked up: loaded
        return self


@functools.cache
def _prelude() -> str:
    return (LUA_DIR / "_prelude.lua").read_text("utf-8")


SCRIPTS = Scripts()


class ScriptRunner:
    def __init__(self, client: Client) -> None:
        self.client = client
        #: single calls go by it where it can serve (see lean.py), else by the client
        self.lean = lean_connection_for(client)

    async def close(self) -> None:
        if self.lean is not None:
            await self.lean.close()

    async def run(self, call: Call) -> Any:
        script = SCRIPTS[call.script]
        try:
            if self.lean is not None:
                try:
                    return await self.lean.call(
                        "EVALSHA", script.sha, len(call.keys), *call.keys, *call.args
                    )
                except (RedisConnectionError, RedisTimeoutError):
                    pass  # again by the pooled client, with its retries (as it would)
            return await self.client.evalsha(script.sha, len(call.keys), *call.keys, *call.args)
        except NoScriptError:
            return await self.client.eval(
                script.source,  # type: ignore[arg-type]
                len(call.keys),
                *call.keys,
                *call.args,
            )

    async def run_many(
        self,
        calls: Sequence[Call],
        *,
        before: Sequence[Sequence[Arg]] = (),
        return_errors: bool = False,
    ) -> list[Any]:
        """Several calls in one pipelined round trip (per Cluster node); ``before``
        are plain commands sent first, whose replies are dropped. Calls are not one
        transaction: each script is atomic on its own. An error reply of a call is
        raised, or with ``return_errors`` returned in its place (a lost connection
        is always raised)."""
        if len(calls) == 1 and not before:
            try:
                return [await self.run(calls[0])]
            except ResponseError as exc:
                if not return_errors:
                    raise
                return [exc]
        pipe = self.client.pipeline(transaction=False)
        for command in before:
            pipe.execute_command(*command)
        for call in calls:
            script = SCRIPTS[call.script]
            # (the evalsha() helper is refused by cluster pipelines; the raw command
            # is routed by its first key like any other)
            pipe.execute_command("EVALSHA", script.sha, len(call.keys), *call.keys, *call.args)
        replies = list(await pipe.execute(raise_on_error=False))
        early, late = replies[: len(before)], replies[len(before) :]
        return await self._resolve(calls, early, late, return_errors=return_errors)

    async def run_stream(
        self, calls: Iterable[Call], *, before: Sequence[Sequence[Arg]] = ()
    ) -> list[Any]:
        """Like run_many(), for a lazy sequence of calls: each is sent on one
        connection as soon as it is built, so building the next (packing jobs) overlaps
        with Redis running the previous. Order is kept. On Cluster: run_many()."""
        if not isinstance(self.client, Redis):
            return await self.run_many(list(calls), before=before)
        if self.lean is not None and not before:
            # one call (a single dispatch) goes by the lean connection
            calls = iter(calls)
            first = next(calls, None)
            if first is None:
                return []
            second = next(calls, None)
            if second is None:
                return [await self.run(first)]
            calls = itertools.chain((first, second), calls)
        pool = self.client.connection_pool
        conn = await pool.get_connection()  # type: ignore[no-untyped-call]
        sent: list[Call] = []
        try:
            for command in before:
                await conn.send_packed_command(conn.pack_command(*command))
            for call in calls:
                script = SCRIPTS[call.script]
                command = ("EVALSHA", script.sha, len(call.keys), *call.keys, *call.args)
                await conn.send_packed_command(_pack(command), check_health=False)
                sent.append(call)
            early = [await reply_or_error(conn) for _ in before]
            replies = [await reply_or_error(conn) for _ in sent]
        except BaseException:
            await conn.disconnect()  # replies may be pending: never reuse it
            raise
        finally:
            await pool.release(conn)
        return await self._resolve(sent, early, replies)

    async def _resolve(
        self,
        calls: Sequence[Call],
        early: list[Any],
        replies: list[Any],
        *,
        return_errors: bool = False,
    ) -> list[Any]:
        """Raise the first error reply (of a call: unless ``return_errors``), except
        NOSCRIPT: that call runs again by EVAL."""
        for reply in early:
            if isinstance(reply, Exception):
                raise reply
        for i, reply in enumerate(replies):
            if isinstance(reply, NoScriptError):
                try:
                    replies[i] = await self.run(calls[i])
                except ResponseError as exc:
                    if not return_errors:
                        raise
                    replies[i] = exc
            elif isinstance(reply, Exception) and not (
                return_errors and isinstance(reply, ResponseError)
            ):
                raise reply
        return replies


def _pack(command: Sequence[Arg]) -> bytes:
    """RESP bytes of a command, by hiredis (C): chunks carry thousands of arguments."""
    packed: bytes = hiredis.pack_command(tuple(command))  # type: ignore[arg-type]
    return packed


async def reply_or_error(conn: Any) -> Any:
    """The next reply, an error reply returned rather than raised (the replies after
    it must still be read)."""
    try:
        return await conn.read_response()
    except ResponseError as exc:
        return exc

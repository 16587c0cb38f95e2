"""The Lua scripts in ``asynctasq/drivers/lua/``, and running them.

On a single Redis 7 or later, calls go by FCALL to the functions of one library made
of the scripts that use the prelude (library.py; not the standalone dispatch nor the
inspection scripts): the prelude is built once per server, not at every call. The
first single call finds out whether the server can: a server without the library (a
restart, ``FUNCTION FLUSH``) gets it loaded and the call runs again; one without
functions (Redis 6, an ACL that refuses them, Cluster) is called by EVALSHA from
then on.

By EVALSHA, each script is the part of ``_prelude.lua`` it uses (prelude.py) + its
own file, called with the SHA1 computed here, so no SCRIPT LOAD round trip is
needed; a server that does not know a script yet (restart, failover, a new Cluster
node) answers NOSCRIPT, and that one call is repeated with EVAL, which also caches
the script there.
"""

from __future__ import annotations

import hashlib
import itertools
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import hiredis
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoPermissionError, NoScriptError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from asynctasq.drivers.redis.connection import Client
from asynctasq.drivers.redis.lean import lean_connection_for
from asynctasq.drivers.redis.library import library, library_scripts
from asynctasq.drivers.redis.lua_files import LUA_DIR, STANDALONE, prelude_source
from asynctasq.drivers.redis.prelude import prelude_for

__all__ = ["LUA_DIR", "SCRIPTS", "STANDALONE", "Call", "ScriptRunner", "missing", "reply_or_error"]

log = logging.getLogger("asynctasq.redis")

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
            source = f"{prelude_for(prelude_source(), own)}\n{own}".encode()
        script = self[name] = Script(name, source, hashlib.sha1(source).hexdigest())
        return script

    def load_all(self) -> Scripts:
        """Every script of ``LUA_DIR`` loaded (for the checks that read them all)."""
        for path in sorted(LUA_DIR.glob("*.lua")):
            if not path.name.startswith("_"):
                self[path.stem]  # looked up: loaded
        return self


SCRIPTS = Scripts()


def missing(reply: object) -> bool:
    """Whether an error reply says the server does not have the script or function
    called (it lost them: a restart, a flush, a new node): load it and call again."""
    return isinstance(reply, NoScriptError) or (
        isinstance(reply, ResponseError) and "Function not found" in str(reply)
    )


def _functions_refused(reply: ResponseError) -> bool:
    """Whether an FCALL's error reply says the server takes no functions from us:
    Redis 6 (unknown command), or an ACL without FCALL or FUNCTION."""
    text = str(reply)
    return isinstance(reply, NoPermissionError) or "unknown command" in text


class _LoadRefused(Exception):
    """FUNCTION LOAD failed: the server keeps no library from us."""

    def __init__(self, reply: ResponseError) -> None:
        super().__init__(str(reply))
        self.reply = reply


class ScriptRunner:
    def __init__(self, client: Client) -> None:
        self.client = client
        #: single calls go by it where it can serve (see lean.py), else by the client
        self.lean = lean_connection_for(client)
        #: whether calls go by FCALL (library.py): None until a single call has found
        #: out (calls in pipelines go by EVALSHA till then); never on Cluster
        self.functions: bool | None = None if isinstance(client, Redis) else False

    async def close(self) -> None:
        if self.lean is not None:
            await self.lean.close()

    def command(self, call: Call) -> tuple[Arg, ...]:
        """The command that runs ``call``: FCALL once the server is known to take the
        library (for a script of it), else EVALSHA."""
        if self.functions:
            function = library().functions.get(call.script)
            if function is not None:
                return ("FCALL", function, len(call.keys), *call.keys, *call.args)
        return ("EVALSHA", SCRIPTS[call.script].sha, len(call.keys), *call.keys, *call.args)

    async def run(self, call: Call) -> Any:
        if self.functions is not False and call.script in library_scripts():
            try:
                return await self._run_function(call)
            except _LoadRefused as refused:
                self._refused(refused.reply)
            except ResponseError as exc:
                if not _functions_refused(exc):
                    raise
                self._refused(exc)
        script = SCRIPTS[call.script]  # (by EVALSHA here, whatever self.functions says)
        try:
            return await self._send(("EVALSHA", script.sha, len(call.keys), *call.keys, *call.args))
        except NoScriptError:
            return await self.client.eval(
                script.source,  # type: ignore[arg-type]
                len(call.keys),
                *call.keys,
                *call.args,
            )

    async def _run_function(self, call: Call) -> Any:
        command = ("FCALL", library().functions[call.script], len(call.keys))
        try:
            reply = await self._send((*command, *call.keys, *call.args))
        except ResponseError as exc:
            if not missing(exc):
                raise
            try:
                await self._load()
            except ResponseError as refused:  # (an ACL without FUNCTION, a Lua limit)
                raise _LoadRefused(refused) from refused
            reply = await self._send((*command, *call.keys, *call.args))
        self.functions = True
        return reply

    async def _send(self, command: Sequence[Arg]) -> Any:
        if self.lean is not None:
            try:
                return await self.lean.call(*command)
            except (RedisConnectionError, RedisTimeoutError):
                pass  # again by the pooled client, with its retries (as it would)
        return await self.client.execute_command(*command)

    async def _load(self) -> None:
        """Load the library (already there, from another client: as good)."""
        try:
            await self.client.execute_command("FUNCTION", "LOAD", library().source)
        except ResponseError as exc:
            if "already exists" not in str(exc):
                raise

    def _refused(self, exc: ResponseError) -> None:
        if self.functions is not False:
            log.info("Redis runs no functions for asynctasq (%s): scripts go by EVALSHA", exc)
        self.functions = False

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
            # (the evalsha() helper is refused by cluster pipelines; the raw command
            # is routed by its first key like any other)
            pipe.execute_command(*self.command(call))
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
                command = self.command(call)
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
        a script or function the server lacks: that call runs again by run(), which
        loads it."""
        for reply in early:
            if isinstance(reply, Exception):
                raise reply
        for i, reply in enumerate(replies):
            if missing(reply) or (
                self.functions and isinstance(reply, ResponseError) and _functions_refused(reply)
            ):
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

"""Engines and sessions.

Two session factories: ``read()`` for queries and ``transaction()`` for writes. On SQLite the
writer begins with ``BEGIN IMMEDIATE`` so concurrent writers (API, in-process workers, separate
worker processes) queue on the busy timeout instead of failing on lock upgrade; readers never
block in WAL mode.

A cancelled unit of work (a request cancelled by uvicorn after its graceful-shutdown timeout,
a task cancelled at shutdown) still ends its transaction: the commit or rollback and the
connection's return to the pool run to completion, and on SQLite a statement interrupted by the
cancellation does not count as a broken connection (thrown away, its handle would keep the
write lock until garbage-collected, and every other writer would fail with ``database is
locked`` after the busy timeout).

On PostgreSQL (asyncpg) writes go to the primary and reads to the streaming replica when one
is configured. Every connect and every statement is bounded by ``timeout_s``; pooled
connections are pinged before use, so a server that went away and came back (or a standby
that was promoted, with a multi-host writer URL and ``target_session_attrs=read-write``) is
used again by the next request without a restart.

Failures are translated at this boundary: when the database cannot be reached, refuses
connections, times out or turns out to be read-only, ``transaction()`` and ``read()`` raise
``DatabaseUnavailable`` (HTTP 503 with ``Retry-After``); callers never see driver exceptions for
an outage. ``read()`` falls back to the primary while the replica is unreachable.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, TypeVar
from urllib.parse import urlencode

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import event, exc, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from reelstream.db.errors import DatabaseUnavailable

log = logging.getLogger(__name__)

# SQLSTATE classes and codes that mean "the server cannot serve us now", not "bad query":
# 08 connection exception, 53 insufficient resources (too many connections, disk full),
# 57 operator intervention (shutdown, starting up, query cancelled); 25006 read-only
# transaction (a write reached a standby).
_UNAVAILABLE_CLASSES = ("08", "53", "57")
_UNAVAILABLE_STATES = frozenset({"25006"})
# Errors a database call can raise; anything else passes through untouched.
_DB_ERRORS = (
    exc.SQLAlchemyError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
    TimeoutError,
)
REPLICA_RETRY_S = 5.0

T = TypeVar("T")


# -- URLs


def normalize_url(url: str) -> str:
    """Accept a libpq-style multi-host URL (``user@h1:5432,h2:5432/db``) and rewrite it in the
    form SQLAlchemy's asyncpg dialect understands (``user@/db?host=h1:5432&host=h2:5432``).
    Other URLs are returned unchanged."""
    if not url.startswith("postgresql"):
        return url
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, _, tail = rest.partition("/")
    userinfo, at, hosts = authority.rpartition("@")
    if "," not in hosts:
        return url
    path, _, query = tail.partition("?")
    params = urlencode([("host", h) for h in hosts.split(",") if h])
    query = f"{params}&{query}" if query else params
    return f"{scheme}://{userinfo}{at}/{path}?{query}"


class PgConnector:
    """Opens asyncpg connections for a (possibly multi-host) ``postgresql+asyncpg://`` URL.

    asyncpg bounds a whole multi-host connect by one timeout, so a host that hangs (a frozen
    or powered-off old primary) would use it all up and the next host would never be tried.
    This connector gives every host its own ``timeout_s``, skips hosts that refuse, hang or
    do not match ``target_session_attrs`` (e.g. a standby when ``read-write`` is asked for),
    and tries the host that worked last time first, so after a failover new connections go
    straight to the new primary.

    ``target_session_attrs=prefer-standby`` (the replica URL of an HA pair) is done here too,
    since per host it would accept anything: a standby is looked for on every host first, and
    only when none answers as one does the connection go to a host that answered as primary
    (so reads keep working after a failover left only the primary).
    """

    def __init__(self, url: str, *, timeout_s: float, command_timeout_s: float | None) -> None:
        from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg

        # The dialect's own URL parsing: user, password, database, host/port lists, options.
        dialect = PGDialect_asyncpg()  # type: ignore[no-untyped-call]
        _, opts = dialect.create_connect_args(make_url(normalize_url(url)))  # type: ignore[no-untyped-call]
        hosts, ports = opts.pop("host", "localhost"), opts.pop("port", 5432)
        if isinstance(hosts, list):
            self.hosts = [(str(h), int(p)) for h, p in zip(hosts, ports, strict=True)]
        else:
            self.hosts = [(str(hosts), int(ports))]
        opts.pop("prepared_statement_cache_size", None)
        self.target = opts.pop("target_session_attrs", None)
        self.options: dict[str, Any] = opts
        self.timeout_s = timeout_s
        self.command_timeout_s = command_timeout_s
        self._first = 0

    @property
    def multi_host(self) -> bool:
        return len(self.hosts) > 1

    def describe(self) -> str:
        """Where this connects to, without credentials (for logs)."""
        hosts = ",".join(f"{h}:{p}" for h, p in self.hosts)
        return f"{hosts}/{self.options.get('database', '')}"

    async def connect(self) -> Any:
        """A new asyncpg connection to the first host that qualifies (raises the last error)."""
        order = self.hosts[self._first :] + self.hosts[: self._first]
        prefer_standby = self.target == "prefer-standby"
        target = "standby" if prefer_standby else self.target
        last: BaseException | None = None
        fallback: list[tuple[str, int]] = []
        for host, port in order:
            try:
                conn = await self._connect(host, port, target)
            except asyncpg.TargetServerAttributeNotMatched as error:
                last = error
                fallback.append((host, port))  # it answered, as a primary
                continue
            except _CONNECT_ERRORS as error:
                last = error
                continue
            self._first = self.hosts.index((host, port))
            return conn
        for host, port in fallback if prefer_standby else []:
            try:
                return await self._connect(host, port, "any")
            except _CONNECT_ERRORS as error:
                last = error
        assert last is not None
        raise last

    async def _connect(self, host: str, port: int, target: str | None) -> Any:
        kwargs = dict(self.options, host=host, port=port, timeout=self.timeout_s)
        if self.command_timeout_s is not None:
            kwargs["command_timeout"] = self.command_timeout_s
        if target is not None:
            kwargs["target_session_attrs"] = target
        return await asyncpg.connect(**kwargs)


_CONNECT_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.TargetServerAttributeNotMatched,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
)


# -- engines


def _sqlite_engine(url: str, *, immediate: bool) -> AsyncEngine:
    engine = create_async_engine(url, connect_args={"timeout": 30})

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # we emit BEGIN ourselves
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=FULL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    @event.listens_for(engine.sync_engine, "handle_error")
    def _on_error(context: Any) -> None:
        # A statement interrupted by a cancellation is no broken connection: keep it, so the
        # transaction is rolled back on it. Treated as a disconnect, the connection would be
        # thrown away without closing its SQLite handle (aiosqlite's stop()), and that handle
        # would keep the write lock until garbage-collected: every other writer then waits out
        # the busy timeout and fails with "database is locked".
        if isinstance(context.original_exception, asyncio.CancelledError):
            context.is_disconnect = False

    return engine


def _pg_engine(url: str, *, pool_size: int, timeout_s: float) -> AsyncEngine:
    url = normalize_url(url)
    options: dict[str, Any] = {
        "pool_pre_ping": True,  # a connection broken by a restart or failover is replaced
        "pool_size": pool_size,
        "max_overflow": pool_size,
        "pool_timeout": timeout_s,  # waiting for a free connection counts as unavailable too
        "pool_recycle": 1800,
    }
    connector = PgConnector(url, timeout_s=timeout_s, command_timeout_s=timeout_s)
    if connector.multi_host:
        options["async_creator"] = connector.connect
    else:
        options["connect_args"] = {"timeout": timeout_s, "command_timeout": timeout_s}
    return create_async_engine(url, **options)


# -- failure classification


def is_unavailable(error: BaseException, *, connecting: bool = False) -> bool:
    """True when ``error`` (or what caused it) means the database cannot serve us right now.

    ``connecting``: the error happened while opening a connection, where socket errors
    (refused, unreachable, reset) also count.
    """
    seen: set[int] = set()
    todo: list[BaseException | None] = [error]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, exc.TimeoutError | TimeoutError):  # pool checkout, connect, statement
            return True
        if isinstance(e, exc.DBAPIError) and e.connection_invalidated:
            return True
        if connecting and isinstance(e, OSError):
            return True
        if isinstance(e, asyncpg.PostgresConnectionError | asyncpg.TargetServerAttributeNotMatched):
            return True
        if isinstance(e, asyncpg.ConnectionDoesNotExistError):
            return True
        if isinstance(e, asyncpg.InterfaceError) and "closed" in str(e):
            return True
        state = getattr(e, "sqlstate", None)
        if isinstance(state, str) and (
            state[:2] in _UNAVAILABLE_CLASSES or state in _UNAVAILABLE_STATES
        ):
            return True
        if isinstance(e, exc.OperationalError) and "database is locked" in str(e):
            return True  # SQLite: the busy timeout ran out
        orig = e.orig if isinstance(e, exc.DBAPIError) else None
        todo += [orig, e.__cause__, e.__context__]
    return False


async def _to_completion(step: Awaitable[T]) -> T:
    """Await ``step`` in a task of its own and let it finish even if the caller is cancelled
    meanwhile; the cancellation is re-raised afterwards."""
    task = asyncio.ensure_future(step)
    cancelled: asyncio.CancelledError | None = None
    while True:
        try:
            result = await asyncio.shield(task)
        except asyncio.CancelledError as error:
            if task.done():
                raise
            cancelled = error
        else:
            break
    if cancelled is not None:
        raise cancelled
    return result


def _terminate_now(dbapi_conn: Any, _record: Any, _error: Any = None) -> None:
    """Close the socket of a connection that is being thrown away, without waiting for the
    server (pool ``invalidate``: it is broken anyway)."""
    driver = getattr(dbapi_conn, "driver_connection", None)
    if driver is not None and not driver.is_closed():
        driver.terminate()


class Database:
    def __init__(
        self,
        url: str,
        replica_url: str | None = None,
        *,
        pool_size: int = 10,
        timeout_s: float = 5,
    ) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self.timeout_s = timeout_s
        if self.is_sqlite:
            self.writer = _sqlite_engine(url, immediate=True)
            self.reader = _sqlite_engine(url, immediate=False)
        else:
            self.writer = _pg_engine(url, pool_size=pool_size, timeout_s=timeout_s)
            self.reader = (
                _pg_engine(replica_url, pool_size=pool_size, timeout_s=timeout_s)
                if replica_url
                else self.writer
            )
        if not self.is_sqlite:
            for engine in {self.writer, self.reader}:
                event.listen(engine.sync_engine, "invalidate", _terminate_now)
                event.listen(engine.sync_engine, "close", self._on_close)
        self._abrupt_close_until = 0.0
        self._write_sessions = async_sessionmaker(self.writer, expire_on_commit=False)
        self._read_sessions = async_sessionmaker(self.reader, expire_on_commit=False)
        self._replica_down_until = 0.0

    @property
    def has_replica(self) -> bool:
        return self.reader is not self.writer and not self.is_sqlite

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A write transaction on the primary: committed when the block ends, rolled back on
        an exception. Raises ``DatabaseUnavailable`` when the primary cannot take it."""
        async with self._session(self._write_sessions, "primary") as session:
            yield session

    @asynccontextmanager
    async def read(self, *, primary: bool = False) -> AsyncIterator[AsyncSession]:
        """A read-only unit of work, on the replica when there is one.

        Replicas lag a little behind the primary; pass ``primary=True`` where a read must see
        the caller's own latest writes (read-your-writes). While the replica cannot be
        reached, reads go to the primary. Raises ``DatabaseUnavailable`` when neither can.
        """
        if primary or not self.has_replica:
            async with self._session(self._write_sessions, "primary") as session:
                yield session
            return
        async with AsyncExitStack() as stack:
            chosen: AsyncSession | None = None
            if time.monotonic() >= self._replica_down_until:
                try:
                    chosen = await stack.enter_async_context(
                        self._session(self._read_sessions, "replica")
                    )
                except DatabaseUnavailable:
                    self._replica_down_until = time.monotonic() + REPLICA_RETRY_S
                    log.warning("replica unavailable: reading from the primary for a while")
            if chosen is None:
                chosen = await stack.enter_async_context(
                    self._session(self._write_sessions, "primary")
                )
            yield chosen

    @asynccontextmanager
    async def _session(
        self, factory: async_sessionmaker[AsyncSession], role: str
    ) -> AsyncIterator[AsyncSession]:
        """A unit of work whose end (commit or rollback, and the connection's return to the
        pool) runs to completion even when the caller is cancelled meanwhile; the
        cancellation is re-raised once the transaction has ended."""
        unit = self._unit(factory, role)
        session = await unit.__aenter__()
        try:
            yield session
        except BaseException as error:
            if not await _to_completion(unit.__aexit__(type(error), error, error.__traceback__)):
                raise
        else:
            await _to_completion(unit.__aexit__(None, None, None))

    @asynccontextmanager
    async def _unit(
        self, factory: async_sessionmaker[AsyncSession], role: str
    ) -> AsyncIterator[AsyncSession]:
        try:
            async with factory() as session, session.begin():
                try:
                    await session.connection()  # connect now, so outages surface here
                except Exception as error:
                    if is_unavailable(error, connecting=True):
                        raise self._unavailable(role, error) from error
                    raise
                yield session
        except DatabaseUnavailable:
            raise
        except _DB_ERRORS as error:
            if is_unavailable(error):
                raise self._unavailable(role, error) from error
            raise

    def _unavailable(self, role: str, error: BaseException) -> DatabaseUnavailable:
        log.warning("database %s unavailable: %s: %s", role, type(error).__name__, error)
        if not self.is_sqlite:
            # Every pooled connection may point at the server that just failed (after a
            # failover, at a frozen old primary whose pings would each hang for timeout_s):
            # have the pool replace all connections opened before now on their next checkout.
            # SQLAlchemy does this by itself for errors it recognises as disconnects.
            engine = self.writer if role == "primary" else self.reader
            self._abrupt_close_until = time.monotonic() + max(10.0, 3 * self.timeout_s)
            engine.sync_engine.pool._invalidate(None)  # type: ignore[arg-type]
        if role == "primary":
            message = "the database primary is unavailable, so changes cannot be saved now"
        else:
            message = "the database is unavailable"
        return DatabaseUnavailable(f"{message}; retry later")

    def _on_close(self, dbapi_conn: Any, _record: Any) -> None:
        """Right after an outage, close replaced connections without the polite goodbye
        (which SQLAlchemy waits up to 2 s for, per connection, on a server that may hang)."""
        if time.monotonic() < self._abrupt_close_until:
            _terminate_now(dbapi_conn, _record)

    async def ping(self) -> None:
        """Readiness of the database for this process.

        The primary must answer and accept writes (not be a standby in recovery); when a
        replica is configured it must answer too, or the primary takes its reads. Raises
        ``DatabaseUnavailable`` otherwise.
        """
        if self.is_sqlite:
            async with self.read() as s:
                await s.execute(text("SELECT 1"))
            return
        async with self.transaction() as s:
            in_recovery = (await s.execute(text("SELECT pg_is_in_recovery()"))).scalar()
        if in_recovery:
            raise DatabaseUnavailable("the writer database is a read-only standby")
        if self.has_replica:
            async with self.read() as s:
                await s.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.writer.dispose()
        if self.reader is not self.writer:
            await self.reader.dispose()

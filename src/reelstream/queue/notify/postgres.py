"""PostgreSQL LISTEN/NOTIFY wake-ups.

``PgNotifier`` keeps one dedicated asyncpg connection to the primary that ``LISTEN``s on
``reelstream_jobs``; every notification wakes the workers of this process. ``notify()`` wakes the
local workers at once and sends ``NOTIFY reelstream_jobs`` on the same connection in the
background (bursts coalesce into one NOTIFY in flight plus one more).

When the connection drops (server restart, failover, ``pg_terminate_backend``) the listener
reconnects with exponential backoff; a multi-host URL with ``target_session_attrs=read-write``
makes it follow a promoted standby. After every (re)connect the local workers are woken once,
since a notification sent while nobody listened is lost. Wake-ups are only an accelerator:
workers still poll every ``poll_interval_s``, so nothing here ever raises to its callers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg  # type: ignore[import-untyped]

from reelstream.db.database import PgConnector
from reelstream.queue.notify.base import CHANNEL, Notifier

log = logging.getLogger(__name__)

_CONNECT_ERRORS = (
    OSError,
    TimeoutError,
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    asyncpg.InternalClientError,
)


class PgNotifier(Notifier):
    def __init__(
        self,
        url: str,
        *,
        timeout_s: float = 5.0,
        keepalive_s: float = 10.0,
        backoff_min_s: float = 0.1,
        backoff_max_s: float = 5.0,
    ) -> None:
        super().__init__()
        self.connector = PgConnector(url, timeout_s=timeout_s, command_timeout_s=None)
        self.timeout_s = timeout_s
        self.keepalive_s = keepalive_s
        self.backoff_min_s = backoff_min_s
        self.backoff_max_s = backoff_max_s
        self._conn: asyncpg.Connection | None = None
        self._lock = asyncio.Lock()  # one operation at a time on the connection
        self._listener: asyncio.Task[None] | None = None
        self._sender: asyncio.Task[None] | None = None
        self._pending = False
        self._closing = False

    # -- state, for operators and tests
    @property
    def listening(self) -> bool:
        conn = self._conn
        return conn is not None and not conn.is_closed()

    @property
    def server_pid(self) -> int | None:
        """The backend pid of the listening connection (None while disconnected)."""
        conn = self._conn
        return conn.get_server_pid() if conn is not None and not conn.is_closed() else None

    # -- sending
    def _broadcast(self) -> None:
        self._pending = True
        if self._sender is not None and not self._sender.done():
            return  # the running sender sends once more after its current NOTIFY
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # no event loop: the workers' poll will find the job
        self._sender = loop.create_task(self._send_pending(), name="pg-notify")

    async def _send_pending(self) -> None:
        while self._pending and not self._closing:
            self._pending = False
            conn = self._conn
            if conn is None or conn.is_closed():
                return  # the listener wakes everyone after it reconnects
            try:
                async with self._lock:
                    await asyncio.wait_for(conn.execute(f"NOTIFY {CHANNEL}"), self.timeout_s)
            except _CONNECT_ERRORS as error:
                log.warning("NOTIFY %s failed: %s", CHANNEL, error)
                return

    # -- listening
    async def start(self) -> None:
        if self._listener is None or self._listener.done():
            self._closing = False
            self._listener = asyncio.create_task(self._listen_loop(), name="pg-listen")

    async def close(self) -> None:
        self._closing = True
        for task in (self._listener, self._sender):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._listener = self._sender = None
        await self._drop()

    def _on_notification(self, *_args: object) -> None:
        self.wake_local()

    async def _listen_loop(self) -> None:
        delay = self.backoff_min_s
        while not self._closing:
            try:
                await self._connect()
            except _CONNECT_ERRORS as error:
                log.warning("cannot LISTEN on %s (retry in %.1f s): %s", CHANNEL, delay, error)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self.backoff_max_s)
                continue
            delay = self.backoff_min_s
            self.wake_local()  # a notification sent while we were away is lost: look now
            try:
                await self._watch()
            except _CONNECT_ERRORS as error:
                log.warning("LISTEN connection lost: %s", error)
            finally:
                await self._drop()
            if not self._closing:
                await asyncio.sleep(delay)

    async def _connect(self) -> None:
        conn = await self.connector.connect()
        try:
            await asyncio.wait_for(
                conn.add_listener(CHANNEL, self._on_notification), self.timeout_s
            )
        except BaseException:
            conn.terminate()
            raise
        self._conn = conn
        log.info("listening for job wake-ups on %s (backend %d)", CHANNEL, conn.get_server_pid())

    async def _watch(self) -> None:
        """Return when the connection is gone; ping it when idle to notice silent failures."""
        conn = self._conn
        assert conn is not None
        lost = asyncio.Event()
        conn.add_termination_listener(lambda _c: lost.set())
        while not conn.is_closed():
            try:
                await asyncio.wait_for(lost.wait(), self.keepalive_s)
            except TimeoutError:
                async with self._lock:
                    await asyncio.wait_for(conn.execute("SELECT 1"), self.timeout_s)
            else:
                log.warning("LISTEN connection closed by the server")
                return

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None or conn.is_closed():
            return
        try:
            await asyncio.wait_for(conn.close(), self.timeout_s)
        except _CONNECT_ERRORS:
            conn.terminate()
        except asyncio.CancelledError:
            conn.terminate()
            raise

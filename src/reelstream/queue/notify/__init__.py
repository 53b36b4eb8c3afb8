"""Worker wake-ups: one interface (``Notifier``), one module per backend, chosen by a setting.

* ``base``: the interface;
* ``memory``: this process only (the embedded default, and the fake for tests);
* ``local``: the server processes of one data dir (``serve --workers N`` on SQLite);
* ``postgres``: PostgreSQL LISTEN/NOTIFY;
* ``redis``: Redis pub/sub.

Nobody calls ``notify()`` by hand after enqueueing: ``reelstream.queue.wakeups`` does it after
the commit of every transaction that made a job ready.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from reelstream.queue.notify.base import CHANNEL, Notifier
from reelstream.queue.notify.memory import MemoryNotifier

if TYPE_CHECKING:
    from reelstream.config import Settings


def create_notifier(settings: Settings) -> Notifier:
    """Redis pub/sub when Redis is configured, else LISTEN/NOTIFY on PostgreSQL, else the
    processes of this data dir when several serve it (``http_workers`` > 1), else this one."""
    if settings.redis_url:
        from reelstream.queue.notify.redis import RedisNotifier

        return RedisNotifier(settings.redis_url)
    url = settings.resolved_database_url
    if url.startswith("postgresql"):
        from reelstream.queue.notify.postgres import PgNotifier

        return PgNotifier(url)
    if (settings.http_workers or 1) > 1:
        from reelstream.queue.notify.local import LocalProcessesNotifier

        return LocalProcessesNotifier(settings.data_dir / "wake")
    return MemoryNotifier()


__all__ = ["CHANNEL", "MemoryNotifier", "Notifier", "create_notifier"]

"""Wake the workers after a commit that made a job ready, in one place: session events on the
writer.

``install(db, notifier)`` (called once by ``services.build_services``) ties the writer engine
of ``db`` to a ``Notifier``. ``JobQueue.enqueue`` (and ``JobQueue.reap`` when it re-queues a
job) calls ``job_ready(session, kind)``, which records the kind in ``session.info``. Then, for
every session bound to that engine:

* ``after_commit`` calls ``notifier.notify()`` once if any job was made ready: the workers
  are woken when the job can be seen, never before the commit;
* ``after_rollback`` drops the record: the job never existed, nobody is woken.

No call site wakes workers by hand. A wake-up is an accelerator (workers poll anyway), so a
failure here is logged and never fails the committed write. This mechanism is separate from
``reelstream.db.invalidation`` (cache invalidation), which keeps its own listeners and key.
"""

from __future__ import annotations

import logging
import weakref
from typing import TYPE_CHECKING, Final

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

if TYPE_CHECKING:
    from reelstream.db.database import Database
    from reelstream.queue.notify import Notifier

log = logging.getLogger(__name__)

_INFO_KEY: Final = "reelstream.jobs_ready"
_notifiers: weakref.WeakKeyDictionary[Engine, Notifier] = weakref.WeakKeyDictionary()


def install(db: Database, notifier: Notifier) -> None:
    """Wake ``notifier``'s workers after every commit on ``db``'s writer that made a job ready."""
    _listen_once()
    _notifiers[db.writer.sync_engine] = notifier


def job_ready(session: AsyncSession | Session, kind: str) -> None:
    """Record that a job of ``kind`` is ready to run once ``session``'s transaction commits."""
    session.info.setdefault(_INFO_KEY, set()).add(kind)


def ready_kinds(session: AsyncSession | Session) -> frozenset[str]:
    """The kinds of the jobs made ready in ``session``'s open transaction (for tests)."""
    return frozenset(session.info.get(_INFO_KEY, ()))


def _after_commit(session: Session) -> None:
    kinds: set[str] | None = session.info.pop(_INFO_KEY, None)
    bind = session.bind
    notifier = _notifiers.get(bind) if isinstance(bind, Engine) else None
    if not kinds or notifier is None:
        return
    try:
        notifier.notify()
    except Exception as exc:  # the write is committed: never fail it
        log.warning("waking workers for %s failed: %s", ", ".join(sorted(kinds)), exc)


def _after_rollback(session: Session) -> None:
    session.info.pop(_INFO_KEY, None)


def _listen_once() -> None:
    if not event.contains(Session, "after_commit", _after_commit):
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_rollback", _after_rollback)

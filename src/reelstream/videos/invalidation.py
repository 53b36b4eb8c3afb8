"""Video cache invalidation on write, in one place: SQLAlchemy session events on the writer.

``install(db, videos)`` (called once by ``services.build_services``) ties the writer engine of
``db`` to a ``VideoCache``. For every session bound to that engine:

* ``after_flush`` collects the ids of the videos whose ``Video``, ``Rendition`` or ``Job``
  objects were new, changed or deleted in the flush (``session.info``);
* ``after_commit`` invalidates those videos, awaiting the cache inside the commit (the async
  session runs commit in a greenlet, so the event can await), so when
  ``async with db.transaction()`` returns, the change is visible to every reader: a client that
  PATCHes then GETs sees its write, on any api instance;
* ``after_rollback`` drops the collected ids: nothing changed.

No call site has to remember anything: PATCH, DELETE, publish, mark_failed, re-queueing and
new jobs all go through ORM objects on writer sessions.

Bulk statements (``update()`` / ``delete()``) do not pass through the session's object
collections and are not seen. They need no invalidation, because only final videos are cached
(``ready``/``failed`` with no job in flight, see ``reelstream.videos.cache``):

* ``queue.jobs`` updates ``Job`` rows in bulk (claim, heartbeat progress, complete, fail), but
  only queued or running jobs. A cached video has no such job; the only way to give it one is
  ``enqueue``, an ORM insert, which invalidates. Each bulk job update that changes the state
  of a video happens in a transaction that also changes the ``Video`` through the ORM
  (``mark_processing``, ``publish``, ``mark_failed``, ``mark_queued``).
* ingest deletes ``Video`` rows in bulk only while they are ``uploading``: never cached.

The race between a reader filling the cache and a writer invalidating is handled by
tombstones and set-if-absent fills; see ``reelstream.videos.cache``. A failure to reach the
cache here is logged by the cache and never fails the (already committed) write: the entry
then lives until its TTL at most.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Coroutine
from itertools import chain
from typing import TYPE_CHECKING, Any, Final

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session, UOWTransaction
from sqlalchemy.util import await_
from sqlalchemy.util.concurrency import in_greenlet

from reelstream.db.models import Job, Rendition, Video

if TYPE_CHECKING:
    from reelstream.db.database import Database
    from reelstream.videos.cache import VideoCache

log = logging.getLogger(__name__)

_INFO_KEY: Final = "reelstream.invalidate_videos"
_caches: weakref.WeakKeyDictionary[Engine, VideoCache] = weakref.WeakKeyDictionary()
_background: set[asyncio.Task[None]] = set()


def install(db: Database, videos: VideoCache) -> None:
    """Invalidate ``videos`` after every commit on ``db``'s writer engine."""
    _listen_once()
    _caches[db.writer.sync_engine] = videos


def _cache_of(session: Session) -> VideoCache | None:
    bind = session.bind
    return _caches.get(bind) if isinstance(bind, Engine) else None


def _video_id(obj: object) -> str | None:
    """The id of the video ``obj`` belongs to, read without loading anything (the loaded
    attributes of a mapped instance are in its ``__dict__``)."""
    if isinstance(obj, Video):
        value = vars(obj).get("id")
    elif isinstance(obj, (Rendition, Job)):
        value = vars(obj).get("video_id")
    else:
        return None
    return value if isinstance(value, str) else None


def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    if _cache_of(session) is None:
        return
    ids = {
        vid
        for vid in map(_video_id, chain(session.new, session.dirty, session.deleted))
        if vid is not None
    }
    if ids:
        session.info.setdefault(_INFO_KEY, set()).update(ids)


def _after_commit(session: Session) -> None:
    ids: set[str] | None = session.info.pop(_INFO_KEY, None)
    cache = _cache_of(session)
    if not ids or cache is None:
        return
    _run(cache.invalidate(sorted(ids)))


def _after_rollback(session: Session) -> None:
    session.info.pop(_INFO_KEY, None)


def _run(work: Coroutine[Any, Any, None]) -> None:
    """Await ``work`` inside the commit when the session is async (the normal case); from a
    plain synchronous session, run it in the background on the running loop, if any."""
    if in_greenlet():
        try:
            await_(work)
        except Exception as exc:  # the write is committed: never fail it
            log.warning("cache invalidation failed: %s", exc)
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        work.close()
        log.warning("cache invalidation skipped: no event loop to run it")
        return
    task = loop.create_task(work)
    _background.add(task)
    task.add_done_callback(_background.discard)


def _listen_once() -> None:
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_rollback", _after_rollback)

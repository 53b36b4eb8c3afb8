"""The video's own value objects, shared by the repository, the cache and the presenters.

``VideoRendition`` is the one shape of a published rendition in the video domain: the
pipeline hands a list of them to ``repository.publish``, ``VideoView`` (the cached view)
carries them, and the API's ``RenditionOut`` reads them field by field. ``JobSummary`` is
the part of a video's newest job that viewers see (``JobOut`` reads it likewise).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reelstream.db.models import Job, Rendition


@dataclass(frozen=True)
class VideoRendition:
    name: str
    width: int
    height: int
    bandwidth: int  # peak bits per second (HLS BANDWIDTH)
    average_bandwidth: int | None
    codecs: str | None
    playlist: str  # the rendition's media playlist, relative to the rev
    ready: bool = True  # every segment exists: the rendition is complete
    playable: bool = True  # listed in the master: streamable now (complete, or growing)

    @classmethod
    def of(cls, row: Rendition, growing: Collection[str] = ()) -> VideoRendition:
        """The row as the domain sees it; ``growing``: the renditions playable while their rev
        is still being produced (``videos.media["growing"]``)."""
        return cls(
            name=row.name,
            width=row.width,
            height=row.height,
            bandwidth=row.bandwidth,
            average_bandwidth=row.average_bandwidth,
            codecs=row.codecs,
            playlist=row.playlist,
            ready=row.ready,
            playable=row.ready or row.name in growing,
        )


@dataclass(frozen=True)
class JobSummary:
    """A video's newest job as viewers see it."""

    state: str
    attempts: int
    max_attempts: int
    progress: float
    last_error: str | None

    @classmethod
    def of(cls, job: Job) -> JobSummary:
        return cls(
            state=job.state,
            attempts=job.attempts,
            max_attempts=job.max_attempts,
            progress=job.progress,
            last_error=job.last_error,
        )

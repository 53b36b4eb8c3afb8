"""The ``VideoService`` dependency of the video routes and the pages, and its wiring.

Deleting a video must also remove its staged upload data, which is ingest's business; ingest
depends on videos, never the reverse, so the composition root (``reelstream.app``) hands the
discarding function in as ``app.state.discard_staging`` (``services -> DiscardStaging``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from reelstream.http.deps import ServicesDep
from reelstream.videos.service import DiscardStaging, VideoService

if TYPE_CHECKING:
    from reelstream.services import Services


def get_video_service(request: Request, services: ServicesDep) -> VideoService:
    discard: Callable[[Services], DiscardStaging] = request.app.state.discard_staging
    return VideoService(services, discard_staging=discard(services))


VideoServiceDep = Annotated[VideoService, Depends(get_video_service)]

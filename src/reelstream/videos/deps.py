"""The ``VideoService`` dependency of the video routes and the pages, and its wiring.

Deleting a video must also remove its staged upload data, which is ingest's business; ingest
depends on videos, never the reverse, so the composition root (``reelstream.app``) hands the
discarding function in as ``app.state.discard_staging`` (``services -> DiscardStaging``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

from reelstream.videos.service import DiscardStaging, VideoService

if TYPE_CHECKING:
    from reelstream.services import Services


def video_service(request: Request) -> VideoService:
    """One ``VideoService`` per app (it holds no request state), built on first use; the
    staging port is resolved only when a video is deleted (building it costs file-system
    calls that a read should not pay). The hot read routes call this directly: each declared
    dependency costs FastAPI's resolver more than the rest of a cached read."""
    state = request.app.state
    services: Services = state.services
    service: VideoService | None = getattr(state, "video_service", None)
    if service is None or service.services is not services:
        port: Callable[[Services], DiscardStaging] = state.discard_staging

        async def discard_staging(video_id: str) -> None:
            await port(services)(video_id)

        service = VideoService(services, discard_staging=discard_staging)
        state.video_service = service
    return service


async def get_video_service(request: Request) -> VideoService:
    return video_service(request)


VideoServiceDep = Annotated[VideoService, Depends(get_video_service)]

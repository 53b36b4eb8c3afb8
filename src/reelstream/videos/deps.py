"""The ``VideoService`` dependency of the video routes and the pages, and its wiring."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from reelstream.http.deps import ServicesDep
from reelstream.videos.service import VideoService, discard_local_staging


def get_video_service(services: ServicesDep) -> VideoService:
    return VideoService(services, discard_staging=discard_local_staging(services))


VideoServiceDep = Annotated[VideoService, Depends(get_video_service)]

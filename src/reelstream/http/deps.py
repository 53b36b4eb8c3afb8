"""FastAPI dependencies shared by every router: the process's ``Services``.

``Services`` (the composition root, ``reelstream.services``) is named for type checkers only,
so the kit imports no feature at run time.

Dependencies are ``async def`` even when they do not await: FastAPI runs a plain ``def``
dependency in the thread pool, a thread hop per request that costs more than the rest of a
cached read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import Depends, Request

if TYPE_CHECKING:
    from reelstream.services import Services


async def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated["Services", Depends(get_services)]

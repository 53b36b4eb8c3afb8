"""``/api/v1/me/password`` and ``/api/v1/me/sessions``: the caller's password and signed-in
browsers. Changing the password needs the ``write`` scope and counts against the sign-in rate
limits (a wrong current password is a guess like a wrong sign-in); the sessions need ``read``
to list and ``write`` to end."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request
from pydantic import Field
from starlette.responses import Response

from reelstream.account import service
from reelstream.auth.deps import ReadUser, WriteUser
from reelstream.http.deps import ServicesDep
from reelstream.http.schemas import RequestBody, Schema
from reelstream.ratelimit.deps import limit_api, limit_password_change

router = APIRouter(prefix="/api/v1/me", tags=["account"])

SessionId = Annotated[str, Path(min_length=1, max_length=64)]


class PasswordIn(RequestBody):
    current_password: Annotated[str, Field(max_length=1024)]
    new_password: Annotated[str, Field(max_length=4096)]


class PasswordOut(Schema):
    changed: bool
    sessions_ended: int = Field(description="Your other sessions that were signed out")


class SessionOut(Schema):
    id: str = Field(description="Opaque id; not usable as a credential")
    created_at: dt.datetime
    expires_at: dt.datetime
    current: bool = Field(description="The session of this request")


class SessionList(Schema):
    sessions: list[SessionOut]


class SessionsEnded(Schema):
    sessions_ended: int


@router.post(
    "/password",
    response_model=PasswordOut,
    responses={
        403: {"description": "Wrong current password (wrong_password), or a token without write"},
        422: {"description": "The new password is not valid (the reason)"},
    },
)
async def change_password(
    body: PasswordIn, request: Request, services: ServicesDep, user: WriteUser
) -> PasswordOut:
    """Change your password. Your other sessions are signed out; this one (if the request came
    from a browser session) stays. Access tokens keep working."""
    await limit_password_change(request, user.username)
    ended = await service.change_password(services, user, body.current_password, body.new_password)
    return PasswordOut(changed=True, sessions_ended=ended)


@router.get("/sessions", response_model=SessionList, dependencies=[Depends(limit_api)])
async def list_sessions(services: ServicesDep, user: ReadUser) -> SessionList:
    """Your signed-in browsers, this one first."""
    found = await service.list_sessions(services, user)
    return SessionList(sessions=[SessionOut.model_validate(v) for v in found])


@router.delete(
    "/sessions/{session_id}",
    status_code=204,
    response_class=Response,
    dependencies=[Depends(limit_api)],
    responses={404: {"description": "No session of yours with that id"}},
)
async def end_session(session_id: SessionId, services: ServicesDep, user: WriteUser) -> Response:
    """Sign out one of your sessions."""
    await service.end_session(services, user, session_id)
    return Response(status_code=204)


@router.delete("/sessions", response_model=SessionsEnded, dependencies=[Depends(limit_api)])
async def end_other_sessions(services: ServicesDep, user: WriteUser) -> SessionsEnded:
    """Sign out every session but the one of this request (through a token: all of them)."""
    return SessionsEnded(sessions_ended=await service.end_other_sessions(services, user))

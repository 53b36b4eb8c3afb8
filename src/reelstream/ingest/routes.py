"""tus 1.0.0 endpoints: ``/api/v1/uploads`` (creation) and ``/api/v1/uploads/{upload_id}``.

Extensions: creation, creation-with-upload, termination, checksum (sha1, md5, sha256),
expiration. Every response, errors included, carries ``Tus-Resumable: 1.0.0``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.routing import APIRoute
from starlette.datastructures import MutableHeaders
from starlette.requests import ClientDisconnect
from starlette.responses import Response
from starlette.types import Message, Receive, Scope, Send

from reelstream.auth.deps import CurrentUser, Principal, WriteUser, authorize
from reelstream.auth.errors import NotAuthenticated
from reelstream.http.deps import ServicesDep
from reelstream.http.schemas import ErrorOut
from reelstream.ids import is_valid_id
from reelstream.ingest import tus
from reelstream.ingest.errors import (
    BodyInterrupted,
    NotReplaceable,
    UnsupportedMediaType,
    UploadError,
)
from reelstream.ingest.service import UploadService, UploadState, build_upload_service
from reelstream.ratelimit.deps import limit_upload

log = logging.getLogger(__name__)


class TusRoute(APIRoute):
    """Adds ``Tus-Resumable`` to every response of the route, error responses included."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_tus(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                if "tus-resumable" not in headers:
                    headers["Tus-Resumable"] = tus.TUS_VERSION
            await send(message)

        await super().handle(scope, receive, send_tus)


router = APIRouter(prefix="/api/v1/uploads", tags=["uploads"], route_class=TusRoute)

# -- the OpenAPI description of the protocol: its headers and every refusal ------------------

_TUS_ERRORS: dict[int, str] = {
    400: "A malformed tus request: a header, Upload-Metadata or the checksum algorithm",
    404: "No such upload",
    409: "Upload-Offset is not the server's offset, or the upload is already complete",
    410: "The upload expired",
    412: "Tus-Resumable is missing or not 1.0.0 (Tus-Version lists what the server speaks)",
    413: "Upload-Length, or the data sent, exceeds the limit or the declared length",
    415: "The body is not application/offset+octet-stream",
    423: "Another request is writing to this upload",
    460: "Upload-Checksum does not match the data received",
}


def _refusals(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"model": ErrorOut, "description": _TUS_ERRORS[s]} for s in statuses}


def _header(name: str, schema: dict[str, Any], description: str, *, required: bool = False) -> Any:
    return {
        "name": name,
        "in": "header",
        "required": required,
        "schema": schema,
        "description": description,
    }


_RESUMABLE = _header(
    "Tus-Resumable", {"type": "string", "enum": ["1.0.0"]}, "The tus version", required=True
)
_CREATION_HEADERS = {
    "parameters": [
        _RESUMABLE,
        _header("Upload-Length", {"type": "integer", "minimum": 1}, "Size in bytes"),
        _header("Upload-Metadata", {"type": "string"}, "tus metadata: key base64, ..."),
    ]
}
_PATCH_HEADERS = {
    "parameters": [
        _RESUMABLE,
        _header("Upload-Offset", {"type": "integer", "minimum": 0}, "Where the body goes"),
        _header("Upload-Checksum", {"type": "string"}, "algorithm base64-digest of the body"),
    ]
}
_RESUMABLE_ONLY = {"parameters": [_RESUMABLE]}


def _uploads(services: ServicesDep) -> UploadService:
    return build_upload_service(services)


UploadsDep = Annotated[UploadService, Depends(_uploads)]


async def _body(request: Request) -> AsyncIterator[bytes]:
    """The request body as it arrives; a dropped connection ends it with BodyInterrupted."""
    try:
        async for chunk in request.stream():
            if chunk:
                yield chunk
    except ClientDisconnect:
        raise BodyInterrupted from None


def _content_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    return None if value is None else tus.parse_int_header("Content-Length", value)


def _progress_headers(state: UploadState) -> dict[str, str]:
    headers = {"Upload-Offset": str(state.offset)}
    if not state.completed:
        headers["Upload-Expires"] = tus.http_date(state.expires_at)
    return headers


async def _authorize(uploads: UploadService, upload_id: str, principal: Principal | None) -> None:
    """Only the upload's owner may continue or terminate it (an unknown id is left to the
    service, which answers 404)."""
    if not is_valid_id(upload_id):
        return
    access = await uploads.access(upload_id)
    if access is not None:
        owner, visibility = access.owner_id, access.visibility
        authorize(principal, "upload", owner_id=owner, visibility=visibility, what="upload")
    elif principal is None:
        raise NotAuthenticated("uploads need a signed-in user: send 'Authorization: Bearer ...'")


@router.options("", status_code=204)
async def upload_options(services: ServicesDep) -> Response:
    """tus discovery: versions, extensions, maximum size and checksum algorithms."""
    return Response(
        status_code=204, headers=tus.options_headers(services.settings.max_upload_bytes)
    )


@router.post(
    "",
    status_code=201,
    dependencies=[Depends(limit_upload)],
    responses=_refusals(400, 412, 413, 415),
    openapi_extra=_CREATION_HEADERS,
)
async def create_upload(
    request: Request, services: ServicesDep, uploads: UploadsDep, user: WriteUser
) -> Response:
    """tus creation (and creation-with-upload): creates the video and its upload, owned by
    the caller (a signed-in user with the ``write`` scope).

    With the metadata ``video_id``, the upload replaces the source of that video instead (its
    owner only; 409 while the video is still uploading or processing): same id and URLs, the
    published version keeps playing until the new one is transcoded, then one state change
    switches to it."""
    h = request.headers
    tus.check_resumable(h.get("tus-resumable"))
    length = tus.parse_length(
        h.get("upload-length"),
        services.settings.max_upload_bytes,
        defer=h.get("upload-defer-length"),
    )
    pairs = tus.parse_metadata(h.get("upload-metadata"))
    video = tus.VideoMetadata.from_pairs(pairs)
    if video.replaces is not None:  # a new source for an existing video: its owner only
        target = await uploads.replace_target(video.replaces)
        authorize(
            user, "upload", owner_id=target.owner_id, visibility=target.visibility, what="video"
        )
        if target.refusal is not None:
            raise NotReplaceable(target.refusal)
    content_length = _content_length(request)
    if content_length is None:
        with_body = "chunked" in h.get("transfer-encoding", "").lower()
    else:
        with_body = content_length > 0
    checksum = None
    if with_body:  # creation-with-upload
        if h.get("content-type") is None:
            raise UnsupportedMediaType(
                f"a body sent with creation must be Content-Type: {tus.OFFSET_CONTENT_TYPE}"
            )
        tus.check_content_type(h.get("content-type"))
        checksum = tus.parse_checksum(h.get("upload-checksum"))
        if content_length is not None:
            tus.check_fits(0, content_length, length)

    state = await uploads.create(length=length, metadata=pairs, video=video, owner_id=user.id)
    if with_body:
        try:
            state = await uploads.write(
                state.id,
                offset=0,
                body=_body(request),
                content_length=content_length,
                checksum=checksum,
            )
        except UploadError as exc:
            # The upload exists; the client continues with PATCH from the offset we report.
            log.info("upload %s: data sent with creation not kept: %s", state.id, exc)
            state = await uploads.state(state.id)
    headers = {
        "Location": f"{router.prefix}/{state.id}",
        "Video-Id": state.video_id,
        **_progress_headers(state),
    }
    return Response(status_code=201, headers=headers)


@router.head("/{upload_id}", responses=_refusals(404, 410, 412), openapi_extra=_RESUMABLE_ONLY)
async def upload_status(
    upload_id: str, request: Request, uploads: UploadsDep, user: CurrentUser
) -> Response:
    """tus core: how many bytes the server holds durably (the upload's owner only)."""
    tus.check_resumable(request.headers.get("tus-resumable"))
    await _authorize(uploads, upload_id, user)
    state = await uploads.status(upload_id)
    headers = {
        "Upload-Length": str(state.length),
        "Cache-Control": "no-store",
        "Video-Id": state.video_id,
        **_progress_headers(state),
    }
    if state.metadata:
        headers["Upload-Metadata"] = tus.encode_metadata(state.metadata)
    return Response(status_code=200, headers=headers)


@router.patch(
    "/{upload_id}",
    status_code=204,
    responses=_refusals(400, 404, 409, 410, 412, 413, 415, 423, 460),
    openapi_extra=_PATCH_HEADERS,
)
async def upload_chunk(
    upload_id: str, request: Request, uploads: UploadsDep, user: CurrentUser
) -> Response:
    """tus core: append the body at Upload-Offset; answers the new durable offset (the
    upload's owner only)."""
    h = request.headers
    tus.check_resumable(h.get("tus-resumable"))
    await _authorize(uploads, upload_id, user)
    tus.check_content_type(h.get("content-type"))
    offset = tus.parse_int_header("Upload-Offset", h.get("upload-offset"))
    checksum = tus.parse_checksum(h.get("upload-checksum"))
    state = await uploads.write(
        upload_id,
        offset=offset,
        body=_body(request),
        content_length=_content_length(request),
        checksum=checksum,
    )
    return Response(status_code=204, headers=_progress_headers(state))


@router.delete(
    "/{upload_id}",
    status_code=204,
    responses=_refusals(404, 409, 410, 412, 423),
    openapi_extra=_RESUMABLE_ONLY,
)
async def terminate_upload(
    upload_id: str, request: Request, uploads: UploadsDep, user: CurrentUser
) -> Response:
    """tus termination: removes an unfinished upload and its video (the upload's owner
    only)."""
    tus.check_resumable(request.headers.get("tus-resumable"))
    await _authorize(uploads, upload_id, user)
    await uploads.terminate(upload_id)
    return Response(status_code=204)

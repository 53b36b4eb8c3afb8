"""Media features of a published video: captions and the poster.

| Request | Answer |
|---|---|
| ``POST /api/v1/videos/{id}/captions?lang=en&label=English`` | 201 (new) / 200 (replaced) |
| ``GET /api/v1/videos/{id}/captions`` | the caption tracks |
| ``DELETE /api/v1/videos/{id}/captions/{lang}`` | 204 |
| ``POST /api/v1/videos/{id}/poster`` with ``{"at_s": 3.2}`` | 202, a ``poster`` job is queued |

Caption bodies: ``multipart/form-data`` with a ``file`` part (``lang`` and ``label`` may also be
form fields), or the raw file as ``text/vtt``, ``application/x-subrip`` (``text/srt``,
``text/plain`` and ``application/octet-stream`` are accepted too). WebVTT and SRT are accepted;
SRT is converted to WebVTT. Publishing rewrites the rev's manifests
(``reelstream.processing.publishing``).

Authorization (``reelstream.auth.policy``): listing captions follows ``view``; caption upload
and delete and the poster choice are ``edit`` (the owner or an admin, ``write`` scope).
"""

from __future__ import annotations

from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from sqlalchemy import select
from starlette.responses import JSONResponse, Response

from reelstream.api.deps import ServicesDep
from reelstream.api.presenters import MediaLinks
from reelstream.api.schemas import (
    CaptionList,
    CaptionOut,
    ErrorOut,
    PosterJobOut,
    PosterRequest,
)
from reelstream.auth.deps import CurrentUser, Principal, WriteUser, authorize
from reelstream.db import videos as repo
from reelstream.db.errors import InvalidPosterTime, VideoNotReady
from reelstream.db.models import Caption, Job
from reelstream.media.captions import MAX_CAPTION_BYTES
from reelstream.media.errors import CaptionTooLarge, InvalidCaption, UnsupportedCaptionType
from reelstream.processing.publishing import (
    add_caption,
    list_video_captions,
    remove_caption,
    subtitle_track,
)
from reelstream.queue.kinds import POSTER
from reelstream.services import Services

router = APIRouter(prefix="/api/v1", tags=["media"])

MULTIPART_SLACK = 64 * 1024  # form boundaries and headers around the file
RAW_TYPES = frozenset(
    {
        "text/vtt",
        "application/x-subrip",
        "application/x-srt",
        "text/srt",
        "text/x-srt",
        "text/plain",
        "application/octet-stream",
    }
)
LANG_QUERY = Query(
    min_length=2,
    max_length=35,
    description="BCP 47 language tag (e.g. en, pt-BR); may be a form field instead",
)
LABEL_QUERY = Query(max_length=100, description="Name shown in players (defaults to the tag)")


def _errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    text = {
        404: "No such video (or caption)",
        409: "The video is not ready",
        413: "The caption file is too large",
        415: "Unsupported content type",
        422: "Invalid caption file or parameters",
    }
    return {c: {"model": ErrorOut, "description": text[c]} for c in codes}


_CAPTION_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "file": {"type": "string", "format": "binary"},
                        "lang": {"type": "string"},
                        "label": {"type": "string"},
                    },
                    "required": ["file"],
                }
            },
            "text/vtt": {"schema": {"type": "string"}},
            "application/x-subrip": {"schema": {"type": "string"}},
        },
    }
}


def _links(services: Services, request: Request, visibility: str) -> MediaLinks:
    return MediaLinks.create(
        public_base_url=services.settings.public_base_url,
        request_base_url=str(request.base_url),
        signer=services.signer,
        ttl_s=services.settings.playback_ttl_for(visibility),
    )


def _caption_out(caption: Caption, rev: str | None, links: MediaLinks) -> CaptionOut:
    track = subtitle_track(caption)
    return CaptionOut(
        lang=caption.lang,
        label=caption.label,
        cues=caption.cues,
        bytes=caption.bytes,
        url=links.url(caption.video_id, rev, track.vtt) if rev else None,
        created_at=caption.created_at,
        updated_at=caption.updated_at,
    )


async def _check(services: Services, video_id: str, user: Principal | None, action: str) -> str:
    """404 for an unknown video, then the policy; returns the video's visibility."""
    async with services.db.read(primary=True) as s:
        video = await repo.get_video(s, video_id)
    authorize(
        user,
        "view" if action == "view" else "edit",
        owner_id=video.owner_id,
        visibility=video.visibility,
    )
    return video.visibility


async def _read_body(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    too_large = CaptionTooLarge(f"the caption file is larger than {MAX_CAPTION_BYTES} bytes")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.stream():
        total += len(chunk)
        if total > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


def _form_parts(content_type: str, body: bytes) -> dict[str, Message]:
    """The parts of a multipart/form-data body by field name (stdlib MIME parser)."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise InvalidCaption("the multipart body could not be parsed")
    parts: dict[str, Message] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str):
            parts.setdefault(name, part)
    return parts


def _part_bytes(part: Message) -> bytes:
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


async def _caption_upload(
    request: Request, lang: str | None, label: str | None
) -> tuple[bytes, str | None, str | None]:
    content_type = request.headers.get("content-type", "")
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "multipart/form-data":
        body = await _read_body(request, MAX_CAPTION_BYTES + MULTIPART_SLACK)
        parts = _form_parts(content_type, body)
        if "file" not in parts:
            raise InvalidCaption("the form has no 'file' field with the caption file")
        data = _part_bytes(parts["file"])
        if len(data) > MAX_CAPTION_BYTES:
            raise CaptionTooLarge(f"the caption file is larger than {MAX_CAPTION_BYTES} bytes")
        if lang is None and "lang" in parts:
            lang = _part_bytes(parts["lang"]).decode("utf-8", "replace").strip()
        if label is None and "label" in parts:
            label = _part_bytes(parts["label"]).decode("utf-8", "replace").strip()
        return data, lang, label
    if kind in RAW_TYPES or not kind:
        return await _read_body(request, MAX_CAPTION_BYTES), lang, label
    raise UnsupportedCaptionType(
        f"content type {kind!r} is not a caption upload; send text/vtt, "
        "application/x-subrip or multipart/form-data with a 'file' field"
    )


@router.post(
    "/videos/{video_id}/captions",
    response_model=CaptionOut,
    status_code=201,
    responses={
        200: {"model": CaptionOut, "description": "The caption of that language was replaced"},
        **_errors(404, 409, 413, 415, 422),
    },
    openapi_extra=_CAPTION_BODY,
)
async def upload_caption(
    video_id: str,
    request: Request,
    services: ServicesDep,
    user: WriteUser,
    lang: Annotated[str | None, LANG_QUERY] = None,
    label: Annotated[str | None, LABEL_QUERY] = None,
) -> Response:
    """Add (or replace) the caption track of one language: WebVTT, or SRT converted to WebVTT.

    The file is validated (UTF-8, parseable cues and timestamps, at most 2 MiB), stored with
    the video, and published at once as an HLS subtitle rendition and a DASH text track; a
    later re-transcode carries it over. The video's owner or an admin only.
    """
    visibility = await _check(services, video_id, user, "edit")
    data, lang, label = await _caption_upload(request, lang, label)
    if not lang:
        raise InvalidCaption("the language is missing: pass ?lang=en (or a 'lang' form field)")
    caption, created = await add_caption(services, video_id, lang=lang, label=label, data=data)
    async with services.db.read(primary=True) as s:
        video = await repo.get_video(s, video_id)
        rev = video.published_rev
    out = _caption_out(caption, rev, _links(services, request, visibility))
    return JSONResponse(out.model_dump(mode="json"), status_code=201 if created else 200)


@router.get("/videos/{video_id}/captions", response_model=CaptionList, responses=_errors(404))
async def list_captions(
    video_id: str, request: Request, services: ServicesDep, user: CurrentUser
) -> CaptionList:
    """The caption tracks of a video, with signed WebVTT URLs once published."""
    await _check(services, video_id, user, "view")
    video, captions = await list_video_captions(services, video_id)
    links = _links(services, request, video.visibility)
    return CaptionList(items=[_caption_out(c, video.published_rev, links) for c in captions])


@router.delete(
    "/videos/{video_id}/captions/{lang}",
    status_code=204,
    response_class=Response,
    responses=_errors(404, 409, 422),
)
async def delete_caption(
    video_id: str, lang: str, services: ServicesDep, user: WriteUser
) -> Response:
    """Remove the caption track of ``lang`` and republish the manifests without it (the
    video's owner or an admin)."""
    await _check(services, video_id, user, "edit")
    await remove_caption(services, video_id, lang)
    return Response(status_code=204)


@router.post(
    "/videos/{video_id}/poster",
    response_model=PosterJobOut,
    status_code=202,
    responses=_errors(404, 409, 422),
)
async def choose_poster(
    video_id: str, body: PosterRequest, services: ServicesDep, user: WriteUser
) -> PosterJobOut:
    """Regenerate the poster from the source at ``at_s`` seconds (0 <= at_s < duration).

    A ``poster`` job does the work; the video's ``poster_url`` changes to the new image (a new
    file name) when it is done. Re-transcodes keep the chosen time. The video's owner or an
    admin only.
    """
    async with services.db.transaction() as s:
        video = await repo.get_video(s, video_id, for_update=True)
        authorize(user, "edit", owner_id=video.owner_id, visibility=video.visibility)
        if video.status != "ready" or video.published_rev is None:
            raise VideoNotReady(
                f"the video is {video.status}; a poster can be chosen once it is ready"
            )
        duration = video.duration_s or 0.0
        if body.at_s >= duration:
            raise InvalidPosterTime(
                f"at_s must be at least 0 and less than the duration ({duration:.3f} s)"
            )
        video.poster_at_s = body.at_s
        pending = (
            (
                await s.execute(
                    select(Job).where(
                        Job.video_id == video_id, Job.kind == POSTER, Job.state == "queued"
                    )
                )
            )
            .scalars()
            .first()
        )
        job = pending or await services.queue.enqueue(s, video_id, kind=POSTER)
        await s.flush()
        state = job.state
    return PosterJobOut(video_id=video_id, at_s=body.at_s, job_state=state)

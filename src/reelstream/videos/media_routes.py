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
(``reelstream.videos.publishing``).

Authorization (``reelstream.auth.policy``): listing captions follows ``view``; caption upload
and delete and the poster choice are ``edit`` (the owner or an admin, ``write`` scope).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from starlette.responses import JSONResponse, Response

from reelstream.auth.deps import CurrentUser, WriteUser
from reelstream.http.multipart import form_parts, part_bytes, part_text
from reelstream.http.schemas import ErrorOut
from reelstream.media.captions import MAX_CAPTION_BYTES
from reelstream.media.errors import CaptionTooLarge, InvalidCaption, UnsupportedCaptionType
from reelstream.videos.deps import VideoServiceDep
from reelstream.videos.presenters import caption_out, media_links
from reelstream.videos.schemas import CaptionList, CaptionOut, PosterJobOut, PosterRequest

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


async def _caption_upload(
    request: Request, lang: str | None, label: str | None
) -> tuple[bytes, str | None, str | None]:
    content_type = request.headers.get("content-type", "")
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind == "multipart/form-data":
        body = await _read_body(request, MAX_CAPTION_BYTES + MULTIPART_SLACK)
        parts = form_parts(content_type, body)
        if parts is None:
            raise InvalidCaption("the multipart body could not be parsed")
        if "file" not in parts:
            raise InvalidCaption("the form has no 'file' field with the caption file")
        data = part_bytes(parts["file"])
        if len(data) > MAX_CAPTION_BYTES:
            raise CaptionTooLarge(f"the caption file is larger than {MAX_CAPTION_BYTES} bytes")
        if lang is None and "lang" in parts:
            lang = part_text(parts["lang"])
        if label is None and "label" in parts:
            label = part_text(parts["label"])
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
    videos: VideoServiceDep,
    user: WriteUser,
    lang: Annotated[str | None, LANG_QUERY] = None,
    label: Annotated[str | None, LABEL_QUERY] = None,
) -> Response:
    """Add (or replace) the caption track of one language: WebVTT, or SRT converted to WebVTT.

    The file is validated (UTF-8, parseable cues and timestamps, at most 2 MiB), stored with
    the video, and published at once as an HLS subtitle rendition and a DASH text track; a
    later re-transcode carries it over. The video's owner or an admin only.
    """
    added = await videos.add_caption(video_id, user, lambda: _caption_upload(request, lang, label))
    links = media_links(videos.services, request, added.visibility)
    out = caption_out(added.caption, added.published_rev, links)
    return JSONResponse(out.model_dump(mode="json"), status_code=201 if added.created else 200)


@router.get("/videos/{video_id}/captions", response_model=CaptionList, responses=_errors(404))
async def list_captions(
    video_id: str, request: Request, videos: VideoServiceDep, user: CurrentUser
) -> CaptionList:
    """The caption tracks of a video, with signed WebVTT URLs once published."""
    video, captions = await videos.list_captions(video_id, user)
    links = media_links(videos.services, request, video.visibility)
    return CaptionList(items=[caption_out(c, video.published_rev, links) for c in captions])


@router.delete(
    "/videos/{video_id}/captions/{lang}",
    status_code=204,
    response_class=Response,
    responses=_errors(404, 409, 422),
)
async def delete_caption(
    video_id: str, lang: str, videos: VideoServiceDep, user: WriteUser
) -> Response:
    """Remove the caption track of ``lang`` and republish the manifests without it (the
    video's owner or an admin)."""
    await videos.remove_caption(video_id, user, lang)
    return Response(status_code=204)


@router.post(
    "/videos/{video_id}/poster",
    response_model=PosterJobOut,
    status_code=202,
    responses=_errors(404, 409, 422),
)
async def choose_poster(
    video_id: str, body: PosterRequest, videos: VideoServiceDep, user: WriteUser
) -> PosterJobOut:
    """Regenerate the poster from the source at ``at_s`` seconds (0 <= at_s < duration).

    A ``poster`` job does the work; the video's ``poster_url`` changes to the new image (a new
    file name) when it is done. Re-transcodes keep the chosen time. The video's owner or an
    admin only.
    """
    state = await videos.choose_poster(video_id, user, body.at_s)
    return PosterJobOut.model_validate(
        {"video_id": video_id, "at_s": body.at_s, "job_state": state}
    )

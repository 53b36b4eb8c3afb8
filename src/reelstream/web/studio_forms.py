"""The studio's forms (``reelstream.web.studio``), read and checked without a request: the
edit form, the poster choice and the caption upload.

The edit form and the poster choice go through the JSON API's own request bodies
(``VideoPatch``, ``PosterRequest``), so a page and ``PATCH /api/v1/videos/{id}`` /
``POST .../poster`` refuse the same input; the title and description checks proper
(``reelstream.videos.titles``) then run inside ``VideoService`` on both paths.

The caption form is ``multipart/form-data`` (it carries a file), which
``reelstream.auth.deps.read_form`` does not read: its parts are split by
``reelstream.http.multipart``, as the caption API's are (``reelstream.videos.media_routes``),
so the page can find its CSRF field before the caller is resolved.

Errors: ``FormInvalid`` (422, the reason in words), a subclass of ``ReelstreamError`` so
that an API-style caller of a studio route gets the usual JSON body too.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from pathlib import PurePath

from pydantic import ValidationError

from reelstream.errors import ReelstreamError
from reelstream.http.multipart import form_parts, part_bytes, part_text
from reelstream.media.captions import MAX_CAPTION_BYTES
from reelstream.videos.schemas import PosterRequest, VideoPatch

CAPTION_SUFFIXES = (".vtt", ".srt")
MULTIPART_SLACK = 64 * 1024  # boundaries, headers and the small fields around the file
MAX_CAPTION_FORM_BYTES = MAX_CAPTION_BYTES + MULTIPART_SLACK
_FIELD_NAMES = {"title": "The title", "description": "The description", "visibility": "Visibility"}


class FormInvalid(ReelstreamError):
    """A studio form that cannot be applied as sent (the reason says why)."""

    code = "invalid_form"
    status = 422


def _first(form: dict[str, list[str]], name: str) -> str | None:
    values = form.get(name)
    return values[0] if values else None


def _reason(exc: ValidationError) -> str:
    """One sentence per refused field, e.g. ``Visibility: Input should be 'public', ...``."""
    parts = []
    for err in exc.errors():
        field = str(err["loc"][0]) if err.get("loc") else ""
        label = _FIELD_NAMES.get(field, field or "The form")
        parts.append(f"{label}: {err['msg']}")
    return "; ".join(parts)


def parse_edit(form: dict[str, list[str]]) -> VideoPatch:
    """The edit form (``title``, ``description``, ``visibility``) as the API's PATCH body.
    A field the form did not send stays as it is; raises ``FormInvalid``."""
    raw = {
        name: value
        for name in ("title", "description", "visibility")
        if (value := _first(form, name)) is not None
    }
    if "description" in raw:
        raw["description"] = raw["description"].replace("\r\n", "\n")
    try:
        return VideoPatch.model_validate(raw)
    except ValidationError as exc:
        raise FormInvalid(_reason(exc)) from None


def parse_poster(form: dict[str, list[str]]) -> float:
    """The poster form's ``at_s`` (seconds into the video); raises ``FormInvalid``."""
    raw = (_first(form, "at_s") or "").strip()
    if not raw:
        raise FormInvalid("choose a thumbnail or give a time in seconds")
    try:
        return PosterRequest.model_validate({"at_s": raw}).at_s
    except ValidationError:
        raise FormInvalid(f"{raw[:40]!r} is not a time in seconds (0 or more)") from None


@dataclass(frozen=True)
class CaptionForm:
    """A caption upload from the studio's form."""

    csrf_token: str
    data: bytes
    lang: str
    label: str | None


def _parts(content_type: str, body: bytes) -> dict[str, Message]:
    parts = form_parts(content_type, body)
    if parts is None:
        raise FormInvalid("the form could not be read (send it as multipart/form-data)")
    return parts


def csrf_of_caption_form(content_type: str, body: bytes) -> str:
    """The ``csrf_token`` field of a caption form, or "" when there is none (or the body is
    not a form): what the session check needs, before anything else is looked at."""
    try:
        return part_text(_parts(content_type, body).get("csrf_token"))
    except FormInvalid:
        return ""


def parse_caption_form(content_type: str, body: bytes) -> CaptionForm:
    """The caption form: a ``.vtt`` or ``.srt`` ``file``, its ``lang`` and optional ``label``.
    The file's contents are checked by the caption service; raises ``FormInvalid``."""
    kind = content_type.split(";", 1)[0].strip().lower()
    if kind != "multipart/form-data":
        raise FormInvalid("the form could not be read (send it as multipart/form-data)")
    parts = _parts(content_type, body)
    upload = parts.get("file")
    filename = upload.get_filename() if upload is not None else None
    data = part_bytes(upload)
    if upload is None or not filename or not data:
        raise FormInvalid("choose a caption file (.vtt or .srt)")
    if PurePath(filename).suffix.lower() not in CAPTION_SUFFIXES:
        raise FormInvalid(f"{filename[:100]!r} is not a .vtt or .srt file")
    lang = part_text(parts.get("lang"))
    if not lang:
        raise FormInvalid("give the language of the captions, e.g. en or pt-BR")
    label = part_text(parts.get("label")) or None
    return CaptionForm(part_text(parts.get("csrf_token")), data, lang, label)

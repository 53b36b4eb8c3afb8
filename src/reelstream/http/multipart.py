"""A ``multipart/form-data`` body already read into memory, by field name: the caption upload
of the API and the studio's caption form.

Why not Starlette's ``request.form()``: both callers read the body first under their own size
cap (a caption is at most 2 MiB), and the studio must find the form's CSRF token in it before
the request is authorized; parsing the bytes they hold with the standard library's MIME parser
keeps one reading of the body and no spooled temporary files.
"""

from __future__ import annotations

from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP


def form_parts(content_type: str, body: bytes) -> dict[str, Message] | None:
    """The parts of ``body`` by field name (the first of a repeated name), or None when it is
    not a multipart body."""
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message = BytesParser(policy=HTTP).parsebytes(head + body)
    if not message.is_multipart():
        return None
    parts: dict[str, Message] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if isinstance(name, str):
            parts.setdefault(name, part)
    return parts


def part_bytes(part: Message | None) -> bytes:
    """The decoded content of a part (empty for none)."""
    if part is None:
        return b""
    payload = part.get_payload(decode=True)
    return payload if isinstance(payload, bytes) else b""


def part_text(part: Message | None) -> str:
    """A text field's value, stripped (undecodable bytes replaced)."""
    return part_bytes(part).decode("utf-8", "replace").strip()

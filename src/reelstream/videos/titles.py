"""The one title check (and the description check beside it), for a title given at creation
(tus ``Upload-Metadata``) and in a ``PATCH`` of the video.

A title is stripped of surrounding whitespace and then must have 1 to ``MAX_TITLE_CHARS``
characters and none of: NUL and the other C0 control characters (CR and LF included), DEL,
the C1 control characters, the line and paragraph separators, and the bidirectional
embedding, override and isolate characters (U+202A to U+202E, U+2066 to U+2069), which can make a
title display as something else than it says. A refused title is ``InvalidTitle`` (422
``invalid_title``) with the same reason on both paths.
"""

from __future__ import annotations

import re

from reelstream.videos.errors import InvalidDescription, InvalidTitle

MAX_TITLE_CHARS = 300
MAX_DESCRIPTION_CHARS = 5000
_DESCRIPTION_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069]")


def check_title(title: str) -> str:
    """The title, stripped, if it is acceptable; raises ``InvalidTitle``."""
    title = title.strip()
    if not title or len(title) > MAX_TITLE_CHARS:
        raise InvalidTitle(f"a title has 1 to {MAX_TITLE_CHARS} characters")
    found = _CONTROL.search(title)
    if found:
        raise InvalidTitle(f"the title contains a control character (U+{ord(found.group()):04X})")
    found = _BIDI.search(title)
    if found:
        raise InvalidTitle(
            "the title contains a bidirectional override or isolate character "
            f"(U+{ord(found.group()):04X})"
        )
    return title


def check_description(description: str) -> str:
    """The description, stripped, if it is acceptable (empty is); raises
    ``InvalidDescription``. Unlike a title it may hold newlines and tabs."""
    description = description.strip().replace("\r\n", "\n")
    if len(description) > MAX_DESCRIPTION_CHARS:
        raise InvalidDescription(f"a description has at most {MAX_DESCRIPTION_CHARS} characters")
    found = _DESCRIPTION_CONTROL.search(description) or _BIDI.search(description)
    if found:
        raise InvalidDescription(
            "the description contains a control, bidirectional override or isolate character "
            f"(U+{ord(found.group()):04X})"
        )
    return description

"""Every job kind has exactly one handler, and the stored kind strings never change."""

from __future__ import annotations

from reelstream.processing.jobs import HANDLERS
from reelstream.queue import kinds


def test_every_kind_has_a_handler() -> None:
    assert set(HANDLERS) == {
        kinds.TRANSCODE,
        kinds.RENDITION,
        kinds.POSTER,
        kinds.CLEANUP,
        kinds.CHUNK,
    }


def test_stored_kind_strings() -> None:
    assert (kinds.TRANSCODE, kinds.RENDITION, kinds.POSTER, kinds.CLEANUP, kinds.CHUNK) == (
        "transcode",
        "rendition",
        "poster",
        "cleanup",
        "chunk",
    )
    assert kinds.HOUSEKEEPING_KINDS == ("cleanup", "chunk")

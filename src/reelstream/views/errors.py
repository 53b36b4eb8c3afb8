"""Errors of the view and progress beacons."""

from __future__ import annotations

from reelstream.errors import ReelstreamError


class ViewsError(ReelstreamError):
    code = "views_error"


class InvalidBeacon(ViewsError):
    """A view or progress beacon whose body is missing a field or has a bad value (422)."""

    code = "invalid_beacon"
    status = 422

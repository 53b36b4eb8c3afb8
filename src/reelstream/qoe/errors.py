"""Errors of the QoE beacon::

ReelstreamError
└── QoeError
    └── InvalidQoeBeacon   422: a field is missing, of the wrong type or out of bounds
"""

from __future__ import annotations

from reelstream.errors import ReelstreamError


class QoeError(ReelstreamError):
    code = "qoe_error"


class InvalidQoeBeacon(QoeError):
    """A QoE beacon with a missing, mistyped or out-of-bounds field (422); the message names
    the field and what it accepts."""

    code = "invalid_beacon"
    status = 422

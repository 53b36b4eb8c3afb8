"""The capacity model's errors::

    ReelstreamError
    └── CapacityError                 422, bad inputs, an unknown price, an unreadable record
        └── MeasuredRecordError       500, the packaged measured.json missing or malformed

A ``CapacityError`` names the input and why it was refused; the CLI prints it, the admin page
shows the form again with it.
"""

from __future__ import annotations

from reelstream.errors import ReelstreamError


class CapacityError(ReelstreamError):
    """An input of the capacity model was refused (the message says which and why)."""

    code = "invalid_capacity_input"
    status = 422


class MeasuredRecordError(CapacityError):
    """The record of measured figures is missing, malformed, or lacks a figure the model uses."""

    code = "measured_record_error"
    status = 500

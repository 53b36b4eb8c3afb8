"""Queue errors.

ReelstreamError
└── QueueError
    └── LeaseLost       the worker's lease expired or was taken over; it must stop and
                        discard its work (another attempt owns the job now)
"""

from __future__ import annotations

from reelstream.errors import ReelstreamError


class QueueError(ReelstreamError):
    code = "queue_error"


class LeaseLost(QueueError):
    code = "lease_lost"

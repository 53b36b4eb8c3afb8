"""The job kinds: the strings stored in ``jobs.kind`` (never change one: rows outlive code).

``transcode``  the whole ladder of a video (``processing.ladder_job``); owns the video's status
``rendition``  some failed renditions encoded again and added to the published rev
               (``processing.rendition_job``)
``poster``     a new poster at the time the owner chose (``processing.poster``)
``cleanup``    a retired rev removed after its grace period (``processing.cleanup``):
               housekeeping, never shown as "the video's job"

``reelstream.processing.jobs`` maps each kind to its handler.
"""

from __future__ import annotations

TRANSCODE = "transcode"
RENDITION = "rendition"
POSTER = "poster"
CLEANUP = "cleanup"

HOUSEKEEPING_KINDS = (CLEANUP,)
"""Kinds never shown as "the video's job" (``JobQueue.active_job``) and never blocking a retry."""

JOB_KINDS = (TRANSCODE, RENDITION, POSTER, CLEANUP)
"""Every kind (the queue's metrics export a series for each, zero included)."""

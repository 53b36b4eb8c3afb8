"""The job kinds: the strings stored in ``jobs.kind`` (never change one: rows outlive code).

``transcode``  the whole ladder of a video (``processing.ladder_job``); owns the video's status
``rendition``  some failed renditions encoded again and added to the published rev
               (``processing.rendition_job``)
``poster``     a new poster at the time the owner chose (``processing.poster``)
``cleanup``    a retired rev removed after its grace period (``processing.cleanup``):
               housekeeping, never shown as "the video's job"
``chunk``      one time range of a long video's ladder, encoded by any worker for the
               ``transcode`` job named in its payload (``processing.chunk_job``); shown as
               part of that job, never as "the video's job"

``reelstream.processing.jobs`` maps each kind to its handler.
"""

from __future__ import annotations

TRANSCODE = "transcode"
RENDITION = "rendition"
POSTER = "poster"
CLEANUP = "cleanup"
CHUNK = "chunk"

HOUSEKEEPING_KINDS = (CLEANUP, CHUNK)
"""Kinds never shown as "the video's job" (``JobQueue.active_job``) and never blocking a retry."""

JOB_KINDS = (TRANSCODE, RENDITION, POSTER, CLEANUP, CHUNK)
"""Every kind (the queue's metrics export a series for each, zero included)."""

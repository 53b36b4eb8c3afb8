"""tus uploaders: each creates an upload (retried while the server is unreachable or sheds) and
sends the clip in chunks; with probability ``interrupt_prob`` one PATCH is cut at a random
byte, after which the uploader asks the server for its offset (HEAD) and resumes from there,
as a real client after a network drop does.

An upload is *acknowledged* when a PATCH answer reported the final offset: the server then holds
every byte durably and has queued the video. Their video ids go into the JSON report, for the
chaos work to check later that nothing acknowledged was lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random

import httpx

from benchmarks.load import tus
from benchmarks.load.client import BudgetSpent, timed
from benchmarks.load.recorder import Recorder, UploadResult

MAX_RESUMES = 20  # HEAD + PATCH rounds after failures, per upload
RETRY_STATUSES = {423, 429, 503}  # locked (the cut request still holds it), limited, shed


def _offset(r: httpx.Response) -> int:
    return int(r.headers["upload-offset"])


async def upload(
    http: httpx.AsyncClient,
    recorder: Recorder,
    base_url: str,
    data: bytes,
    *,
    title: str,
    chunk_bytes: int,
    interrupt_prob: float,
    rng: random.Random,
) -> UploadResult:
    """One whole upload, bounded: ``len(data) / chunk_bytes`` PATCHes plus ``MAX_RESUMES``."""
    result = UploadResult(recorder.now(), None, len(data), sha256=hashlib.sha256(data).hexdigest())
    recorder.uploads.append(result)
    meta = {"filename": "load.mp4", "title": title, "visibility": "public"}
    headers = {
        **tus.TUS,
        "Upload-Length": str(len(data)),
        "Upload-Metadata": tus.encode_metadata(meta),
    }
    # the creation is retried as tus-js-client does (no answer, locked, limited or shed: back
    # off and POST again); an upload created by a POST whose answer was lost is the janitor's
    for attempt in range(MAX_RESUMES):
        r = await timed(
            http, recorder, "upload.create", "POST", f"{base_url}/api/v1/uploads", headers=headers
        )
        if r is not None and (r.status_code == 201 or r.status_code not in RETRY_STATUSES):
            break
        await asyncio.sleep(min(1.0, 0.05 * 2**attempt))
    if r is None or r.status_code != 201:
        result.error = f"create: {'no response' if r is None else r.status_code}"
        return result
    url = str(httpx.URL(base_url).join(r.headers["location"]))
    result.video_id = r.headers.get("video-id")
    cut_chunk = rng.randrange(max(1, -(-len(data) // chunk_bytes)))
    cut_pending = rng.random() < interrupt_prob
    offset, chunk_no, failures = 0, 0, 0
    while offset < len(data):
        chunk = data[offset : offset + chunk_bytes]
        cut_at = None
        if cut_pending and chunk_no >= cut_chunk and len(chunk) > 1:
            cut_at = rng.randrange(1, len(chunk))
            cut_pending = False
        chunk_no += 1
        if cut_at is not None:
            if not recorder.take():
                raise BudgetSpent
            with contextlib.suppress(tus.CutConnection, httpx.HTTPError):
                await tus.patch(http, url, offset, chunk, cut_at=cut_at)
            result.interruptions += 1
            resumed = await _resume_offset(http, recorder, url, result)
            if resumed is None:
                return result
            offset = resumed
            continue
        r = await timed(
            http,
            recorder,
            "upload.patch",
            "PATCH",
            url,
            content=chunk,
            headers={**tus.TUS, "Upload-Offset": str(offset), "Content-Type": tus.OFFSET_TYPE},
        )
        if r is not None and r.status_code == 204:
            offset = _offset(r)
            if offset == len(data):
                result.acknowledged = True
            continue
        failures += 1
        if failures > MAX_RESUMES or (
            r is not None and r.status_code not in RETRY_STATUSES | {409}
        ):
            result.error = f"patch: {'no response' if r is None else r.status_code}"
            return result
        await asyncio.sleep(min(1.0, 0.05 * 2**failures))
        resumed = await _resume_offset(http, recorder, url, result)
        if resumed is None:
            return result
        offset = resumed
    return result


async def _resume_offset(
    http: httpx.AsyncClient, recorder: Recorder, url: str, result: UploadResult
) -> int | None:
    """The server's offset (HEAD), retried a bounded number of times; None: give up."""
    for attempt in range(MAX_RESUMES):
        r = await timed(http, recorder, "upload.head", "HEAD", url, headers=tus.TUS)
        if r is not None and r.status_code == 200:
            result.resumes += 1
            return _offset(r)
        if r is not None and r.status_code not in RETRY_STATUSES:
            result.error = f"head: {r.status_code}"
            return None
        await asyncio.sleep(min(1.0, 0.05 * 2**attempt))
    result.error = "head: gave up"
    return None

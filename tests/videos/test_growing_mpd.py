"""The DASH MPD of a rev published while it grows: dynamic, rewritten as segments are stored
with the same availabilityStartTime every time, static once the lead is complete."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from reelstream.config import Settings
from reelstream.media.dash import availability_start
from reelstream.media.layout import MPD_NAME, Layout
from reelstream.services import Services, build_services
from reelstream.storage.keys import rev_prefix
from reelstream.videos.publishing import write_growing_mpd
from tests.media.media_checks import parse_mpd
from tests.media.test_manifests import AUDIO, video

VID, REV = "Xb3k9QmP0aZt7LwE", "1a2b3c4d5e6f"


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    settings.prepare()
    svc = build_services(settings)
    yield svc
    await svc.close()


async def test_growing_mpd_keeps_its_anchor_and_ends_static(services: Services) -> None:
    key = f"{rev_prefix(VID, REV)}/{MPD_NAME}"
    lead = replace(video("v240", 426, 240, 450_000, 390_000, "avc1.640015"), duration_s=4.0)
    one = Layout(
        videos=[replace(lead, timeline=[(0, 61440, 0)])], audio=None, duration_s=12.0, growing=True
    )
    await write_growing_mpd(services, VID, REV, one, ended=False)
    first = (await services.store.get_bytes(key)).decode()
    since = availability_start(first)
    assert since is not None

    await asyncio.sleep(0.01)
    two = replace(one, videos=[replace(lead, timeline=[(0, 61440, 1)], duration_s=8.0)])
    await write_growing_mpd(services, VID, REV, two, ended=False)
    second = (await services.store.get_bytes(key)).decode()
    assert availability_start(second) == since  # never changes for the rev
    root, reps = parse_mpd(second)
    assert root.get("type") == "dynamic" and root.get("publishTime") != parse_mpd(first)[0].get(
        "publishTime"
    )
    assert reps[0].files == ["v240/init_0.mp4", "v240/seg_00001.m4s", "v240/seg_00002.m4s"]

    three = replace(
        two, videos=[replace(lead, timeline=[(0, 61440, 2)], duration_s=12.0)], audio=AUDIO
    )
    await write_growing_mpd(services, VID, REV, three, ended=True)
    root, reps = parse_mpd((await services.store.get_bytes(key)).decode())
    assert root.get("type") == "static" and root.get("mediaPresentationDuration") == "PT12.000S"
    assert len(reps[0].files) == 4

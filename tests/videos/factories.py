"""Build videos in the database and blobs in the store the way the pipeline would, for tests.

The functions are async; tests using the ``client`` fixture run them in the app's event loop
with ``client.portal.call(fn, ...)``.
"""

from __future__ import annotations

import time

from reelstream.auth.accounts import find_user
from reelstream.ids import new_rev
from reelstream.services import Services
from reelstream.storage.keys import rev_prefix
from reelstream.videos import repository as repo
from reelstream.videos.domain import VideoRendition

MASTER = (
    "#EXTM3U\n#EXT-X-VERSION:7\n"
    '#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=640x360,CODECS="avc1.64001e,mp4a.40.2"\n'
    "v360/index.m3u8\n"
)


async def create_video(
    services: Services,
    title: str = "clip",
    *,
    visibility: str = "public",
    owner: str | None = "owner",
) -> str:
    """A new video owned by the user named ``owner`` (by default the ``client`` fixture's
    user; no owner when there is no such user)."""
    async with services.db.transaction() as s:
        user = await find_user(s, owner) if owner else None
        video = await repo.create_video(
            s,
            title=title,
            filename=f"{title}.mp4",
            visibility=visibility,
            owner_id=user.id if user else None,
        )
        return video.id


async def queue_video(services: Services, video_id: str) -> None:
    """Upload finished: the video is queued with a job, in one transaction."""
    async with services.db.transaction() as s:
        video = await repo.get_video(s, video_id)
        await repo.mark_uploaded(s, video, source_key=f"videos/{video_id}/source", source_bytes=3)
        await services.queue.enqueue(s, video_id)
    await services.store.put_bytes(f"videos/{video_id}/source", b"src")


async def publish_fake(
    services: Services, video_id: str, files: dict[str, bytes] | None = None
) -> str:
    """Write a fake rev (master playlist, one rendition, poster) and publish it."""
    rev = new_rev()
    blobs = {
        "master.m3u8": MASTER.encode(),
        "v360/index.m3u8": b'#EXTM3U\n#EXT-X-MAP:URI="init.mp4"\n',
        "v360/init.mp4": b"\x00\x00\x00\x18ftypiso6",
        "poster.jpg": b"\xff\xd8\xff\xe0fake-jpeg",
        **(files or {}),
    }
    for path, data in blobs.items():
        await services.store.put_bytes(f"{rev_prefix(video_id, rev)}/{path}", data)
    spec = VideoRendition(
        name="v360",
        width=640,
        height=360,
        bandwidth=900_000,
        average_bandwidth=800_000,
        codecs="avc1.64001e,mp4a.40.2",
        playlist="v360/index.m3u8",
    )
    async with services.db.transaction() as s:
        await repo.publish(
            s, video_id, rev=rev, renditions=[spec], output_bytes=sum(map(len, blobs.values()))
        )
    return rev


def token_for(services: Services, video_id: str, ttl_s: int = 600) -> str:
    return services.signer.sign(video_id, int(time.time()) + ttl_s)

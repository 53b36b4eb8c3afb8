"""Runs one load test: catalogue, then viewers, API clients, uploaders and the metrics sampler
together until the profile's end (or the request budget), then the report.

One ``httpx.AsyncClient`` per actor kind, each with a bounded pool: viewers (anonymous, like
players), API clients and uploaders (with the token), and the sampler.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from typing import Any

from benchmarks.load import report as reports
from benchmarks.load.api_clients import run_api_clients
from benchmarks.load.arrivals import arrivals
from benchmarks.load.catalogue import Video, list_ready, make_clip, seed
from benchmarks.load.client import BudgetSpent, http_client
from benchmarks.load.config import LoadConfig
from benchmarks.load.recorder import Recorder
from benchmarks.load.uploaders import upload
from benchmarks.load.viewers import ViewerOptions, run_viewers
from benchmarks.load.zipf import ZipfSampler, s_for_share, top_count, top_share


class NoCatalogue(RuntimeError):
    pass


async def prepare_catalogue(cfg: LoadConfig, rng: random.Random) -> list[Video]:
    async with http_client(4, max(cfg.timeout_s, 60), cfg.token) as http:
        if cfg.seed_videos:
            await seed(
                http,
                Recorder(10**9),
                cfg.base_url,
                cfg.seed_videos,
                clip_s=cfg.seed_clip_s,
                timeout_s=cfg.seed_timeout_s,
                rng=rng,
            )
        videos = await list_ready(http, cfg.base_url, cfg.max_catalogue)
    if not videos:
        raise NoCatalogue(f"{cfg.base_url} lists no ready public video; try --seed-videos N")
    rng.shuffle(videos)  # popularity rank independent of upload order
    return videos


async def _uploaders(cfg: LoadConfig, rec: Recorder, rng: random.Random, deadline: float) -> None:
    if cfg.upload_rate <= 0 or cfg.max_uploads <= 0:
        return
    data = await asyncio.to_thread(make_clip, cfg.upload_clip_s, frequency=660)
    factor = cfg.profile.peak if cfg.spike_uploads else 1.0

    def rate(t: float) -> float:
        return cfg.upload_rate * (cfg.profile.multiplier(t) if cfg.spike_uploads else 1.0)

    slots = asyncio.Semaphore(cfg.upload_inflight)
    tasks: set[asyncio.Task[None]] = set()
    started = 0
    async with http_client(cfg.upload_inflight, max(cfg.timeout_s, 60), cfg.token) as http:

        async def one(n: int, seed: float) -> None:
            async with slots:
                try:
                    await upload(
                        http,
                        rec,
                        cfg.base_url,
                        data,
                        title=f"load upload {n}",
                        chunk_bytes=cfg.chunk_bytes,
                        interrupt_prob=cfg.interrupt_prob,
                        rng=random.Random(seed),
                    )
                except BudgetSpent:
                    return

        upload_arrivals = arrivals(
            rate,
            cfg.upload_rate * factor,
            now=rec.now,
            deadline=deadline,
            stop=rec.stop,
            rng=rng,
        )
        try:
            async with contextlib.aclosing(upload_arrivals):
                async for _ in upload_arrivals:
                    if len(tasks) >= 4 * cfg.upload_inflight:
                        rec.dropped("upload")
                        continue
                    started += 1
                    task = asyncio.create_task(one(started, rng.random()))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    if started >= cfg.max_uploads:
                        break
            if tasks:  # uploads in flight may finish (acknowledged ones matter most)
                await asyncio.wait(tasks, timeout=cfg.drain_s)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def run(cfg: LoadConfig) -> dict[str, Any]:
    rng = random.Random(cfg.seed)
    videos = await prepare_catalogue(cfg, rng)
    n = len(videos)
    s = cfg.zipf_s if cfg.zipf_s is not None else s_for_share(n)
    top = top_count(n, 0.04)
    ids = [v.id for v in videos]
    # one sampler per actor kind, so each draws the same sequence whatever the timing
    watched = ZipfSampler(ids, s, random.Random(rng.random()))
    requested = ZipfSampler(ids, s, random.Random(rng.random()))
    by_id = {v.id: v for v in videos}
    profile = cfg.profile
    deadline = profile.total_s
    rec = Recorder(cfg.max_requests)
    rec.start()

    def viewer_rate(t: float) -> float:
        return cfg.viewer_rate * profile.multiplier(t)

    def api_rate(t: float) -> float:
        return cfg.api_rate * profile.multiplier(t)

    mix = dict(cfg.api_mix)
    if not cfg.token:
        mix.pop("patch", None)
    opts = ViewerOptions(cfg.watch_s, cfg.start_rung, cfg.max_buffer_s, cfg.allow_remote, deadline)
    viewers_http = http_client(cfg.max_viewers, cfg.timeout_s, None)
    api_http = http_client(cfg.api_inflight, cfg.timeout_s, cfg.token)
    sampler_http = http_client(8, 5.0, None)
    from benchmarks.load.server import run_sampler

    async with viewers_http, api_http, sampler_http:
        sampler = asyncio.create_task(
            run_sampler(sampler_http, rec, cfg.metrics_urls, cfg.origin_metrics_urls, deadline)
        )
        actors = [
            run_viewers(
                viewers_http,
                rec,
                cfg.base_url,
                opts,
                watched.sample,
                arrivals(
                    viewer_rate,
                    cfg.viewer_rate * profile.peak,
                    now=rec.now,
                    deadline=deadline,
                    stop=rec.stop,
                    rng=random.Random(rng.random()),
                ),
                cfg.max_viewers,
            ),
            _uploaders(cfg, rec, random.Random(rng.random()), deadline),
        ]
        if mix and cfg.api_rate > 0:
            actors.append(
                run_api_clients(
                    api_http,
                    rec,
                    cfg.base_url,
                    mix=mix,
                    pick=lambda: by_id[requested.sample()],
                    arrivals=arrivals(
                        api_rate,
                        cfg.api_rate * profile.peak,
                        now=rec.now,
                        deadline=deadline,
                        stop=rec.stop,
                        rng=random.Random(rng.random()),
                    ),
                    inflight=cfg.api_inflight,
                    rng=random.Random(rng.random()),
                )
            )
        try:
            await asyncio.gather(*actors)
        finally:
            sampler.cancel()
            await asyncio.gather(sampler, return_exceptions=True)
    info = {
        "base_url": cfg.base_url,
        "profile": {
            "kind": profile.kind,
            "total_s": profile.total_s,
            "factor": profile.peak,
            "phases": [p.__dict__ for p in profile.phases()],
        },
        "seed": cfg.seed,
        "catalogue": {
            "videos": n,
            "zipf_s": round(s, 4),
            "top_videos": top,
            "top_share": round(top_share(n, s, top), 4),
        },
        "rates": {
            "viewers_per_s": cfg.viewer_rate,
            "api_per_s": cfg.api_rate,
            "api_mix": mix,
            "uploads_per_s": cfg.upload_rate,
            "spike_uploads": cfg.spike_uploads,
        },
        "elapsed_s": round(rec.now(), 3),
        "budget_spent": rec.sent >= cfg.max_requests,
    }
    return reports.build(rec, profile, info)

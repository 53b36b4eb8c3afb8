"""A unit of work cancelled at any point (uvicorn cancelling requests after its graceful
shutdown timeout, a loop cancelled at shutdown) ends its transaction: no abandoned SQLite
connection keeps the write lock, so the next writer never waits out the busy timeout to fail
with ``database is locked`` (issue 9, 7f)."""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

from sqlalchemy import text

from reelstream.db.database import Database

ROUNDS = 300


async def test_cancelled_transactions_never_keep_the_write_lock(tmp_path: Path) -> None:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'cancel.db'}")
    try:
        async with db.transaction() as s:
            await s.execute(text("CREATE TABLE t (x INTEGER)"))

        async def busy() -> None:
            while True:
                async with db.transaction() as s:
                    await s.execute(text("INSERT INTO t VALUES (1)"))
                async with db.read() as s:
                    await s.execute(text("SELECT count(*) FROM t"))

        rng = random.Random(9)
        for n in range(ROUNDS):
            tasks = [asyncio.create_task(busy()) for _ in range(3)]
            await asyncio.sleep(rng.uniform(0, 0.02))
            for task in tasks:
                task.cancel()  # not awaited first: uvicorn does not wait either
            started = time.monotonic()
            async with db.transaction() as s:
                await s.execute(text("INSERT INTO t VALUES (2)"))
            waited = time.monotonic() - started
            assert waited < 2, f"round {n}: a cancelled writer held the lock for {waited:.1f} s"
            await asyncio.gather(*tasks, return_exceptions=True)
        async with db.read() as s:
            assert (await s.execute(text("SELECT count(*) FROM t WHERE x = 2"))).scalar() == ROUNDS
    finally:
        await db.dispose()

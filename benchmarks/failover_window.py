"""The failover benchmark's loss window: what asynchronous replication had acknowledged but
not yet got to the standby when the primary died, as rows, as time and as replication lag.

* ``LagSampler`` polls ``pg_stat_replication`` on the primary (its own port, not the proxied
  one) while the writers run: how far the standby trails, in WAL bytes (current LSN minus
  the standby's written / flushed / replayed LSN) and in time (PostgreSQL's ``write_lag``,
  ``flush_lag``, ``replay_lag``: local flush to the standby's report, so one round trip of the
  link included); the last sample before the crash is "the lag at the crash".
* ``loss_window`` compares what the writers saw acknowledged before the crash with what the
  new primary holds: lost rows, and the window in time: the last acknowledged row's time
  minus the last surviving row's (0 when nothing was lost), both by the server's clock (the
  row's ``now()``, returned by its insert; the writers' own clock would add their event
  loop's scheduling). "Before the crash" = sent before the moment of death.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from reelstream.db.database import PgConnector

if TYPE_CHECKING:
    from benchmarks.failover import NumberedWriter

LAG_SQL = """
SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), sent_lsn)::bigint,
       pg_wal_lsn_diff(pg_current_wal_lsn(), write_lsn)::bigint,
       pg_wal_lsn_diff(pg_current_wal_lsn(), flush_lsn)::bigint,
       pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)::bigint,
       extract(epoch FROM write_lag)::float8, extract(epoch FROM flush_lag)::float8,
       extract(epoch FROM replay_lag)::float8
FROM pg_stat_replication WHERE state = 'streaming'
"""
LAG_KEYS = (
    "unsent_bytes", "unwritten_bytes", "unflushed_bytes", "unreplayed_bytes",
    "write_lag_ms", "flush_lag_ms", "replay_lag_ms",
)  # fmt: skip
SAMPLE_EVERY_S = 0.1


@dataclass
class LagSampler:
    """Samples the primary's view of its standby every ``SAMPLE_EVERY_S`` until stopped."""

    url: str
    samples: list[tuple[float, dict[str, float | None]]] = field(default_factory=list)

    async def run(self, stop: asyncio.Event) -> None:
        connector = PgConnector(self.url, timeout_s=2, command_timeout_s=2)
        conn: Any = None
        try:
            conn = await connector.connect()
            while not stop.is_set():
                row = await conn.fetchrow(LAG_SQL)
                if row is not None:
                    sample = {
                        k: (None if v is None else (1000 * v if k.endswith("_ms") else v))
                        for k, v in zip(LAG_KEYS, row, strict=True)
                    }
                    self.samples.append((time.monotonic(), sample))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), SAMPLE_EVERY_S)
        except Exception:  # the primary died under us: the samples so far are the result
            pass
        finally:
            if conn is not None:
                conn.terminate()

    def before(self, moment: float) -> dict[str, Any]:
        """The last sample taken before ``moment``, and the median write lag over all of them."""
        earlier = [s for t, s in self.samples if t < moment]
        last = dict(earlier[-1]) if earlier else dict.fromkeys(LAG_KEYS)
        lags = sorted(s["write_lag_ms"] for s in earlier if s["write_lag_ms"] is not None)
        last["median_write_lag_ms"] = lags[len(lags) // 2] if lags else None
        return {k: (round(v, 2) if isinstance(v, float) else v) for k, v in last.items()}


def loss_window(writers: list[NumberedWriter], stored: set[int], died_at: float) -> dict[str, Any]:
    """Lost acknowledged rows and the loss window in ms (see the module docstring)."""
    before = [
        (began, n)
        for w in writers
        for n, began, sent in zip(w.acked, w.began_at, w.sent_at, strict=True)
        if sent < died_at
    ]
    acked = {n for w in writers for n in w.acked}
    lost = sorted(acked - stored)
    out: dict[str, Any] = {"lost": len(lost), "lost_numbers": lost[:20], "loss_window_ms": None}
    if before:
        last_acked = max(began for began, _ in before)
        surviving = [began for began, n in before if n in stored]
        last_surviving = max(surviving) if surviving else min(began for began, _ in before)
        out["loss_window_ms"] = round(1000 * (last_acked - last_surviving), 2) if lost else 0.0
    return out

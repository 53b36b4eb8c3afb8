"""Benchmark: PostgreSQL failover under Patroni, synchronous against asynchronous replication.

The local cluster's HA pair alone (three etcd members, Patroni nodes pg-1 and pg-2, the
emulated watchdog; ``reelstream.devcluster.ha``), no reelstream roles. For each replication
mode and each repetition:

* a writer on one connection inserts numbered rows as fast as it can through the multi-host
  writer URL (``target_session_attrs=read-write``, reelstream's own connector); its commit
  latency in steady state is the cost of the mode (p50/p99);
* the primary is crashed: ``postgres`` = SIGKILL of the postmaster and its backends (Patroni
  lives and fails over at once: ``primary_start_timeout`` 0), or ``node`` = SIGKILL of
  Patroni and PostgreSQL together (a dead machine: the standby waits for the leader lock to
  expire, ``ttl`` 10 s);
* failover time = the kill to the writer's first acknowledged insert on the new primary;
* once the old node has rejoined as a replica (``pg_rewind``), lost = acknowledged row
  numbers missing from the table (RPO, in rows).

    python -m benchmarks.failover [--reps 3] [--modes sync,async] [--kinds postgres,node]
        [--warmup 3] [--json failover.json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from reelstream.db.database import PgConnector
from reelstream.devcluster.ha import HaPostgres
from reelstream.devcluster.patroni import PatroniNode, Replication

Kind = Literal["postgres", "node"]
DATABASE = "failover"
TABLE = "CREATE TABLE IF NOT EXISTS numbered (n bigint PRIMARY KEY, at timestamptz DEFAULT now())"


@dataclass
class NumberedWriter:
    """Inserts 1, 2, 3, ... on one connection, reconnecting after any error; remembers which
    numbers the server acknowledged, when, and how long each commit took.

    ``mark(t)`` arms ``recovered``: set by the first acknowledgement of an insert *sent* after
    ``t`` (an insert in flight at a crash may still be acknowledged by the old primary).
    """

    url: str
    start_at: int = 1
    acked: list[int] = field(default_factory=list)
    acked_at: list[float] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    marked: float | None = None
    recovered_at: float | None = None
    recovered: asyncio.Event = field(default_factory=asyncio.Event)

    def mark(self, moment: float) -> None:
        self.marked, self.recovered_at = moment, None
        self.recovered.clear()

    async def run(self, stop: asyncio.Event) -> None:
        connector = PgConnector(self.url, timeout_s=2, command_timeout_s=2)
        conn: Any = None
        n = self.start_at - 1
        while not stop.is_set():
            try:
                if conn is None:
                    conn = await connector.connect()
                n += 1
                sent = time.monotonic()
                t0 = time.perf_counter()
                await conn.execute("INSERT INTO numbered (n) VALUES ($1)", n)
                self.latencies.append(time.perf_counter() - t0)
                self.acked.append(n)
                self.acked_at.append(time.monotonic())
                if self.marked is not None and sent > self.marked and not self.recovered.is_set():
                    self.recovered_at = self.acked_at[-1]
                    self.recovered.set()
            except Exception:  # any failure: reconnect and go on
                self.errors += 1
                if conn is not None:
                    conn.terminate()
                    conn = None
                await asyncio.sleep(0.02)
        if conn is not None:
            conn.terminate()


def stored_numbers(ha: HaPostgres) -> set[int]:
    primary = ha.wait_primary()
    out = ha.psql(primary, "SELECT n FROM numbered", DATABASE)
    return {int(line) for line in out.split()}


def crash(node: PatroniNode, kind: Kind) -> None:
    node.kill("node" if kind == "node" else "postgres")


async def one_failover(
    ha: HaPostgres, kind: Kind, warmup: float, start_at: int, timeout: float = 90
) -> dict[str, Any]:
    """Write, crash the primary, write on; then heal, wait for the pair, count the losses."""
    writer = NumberedWriter(ha.writer_url(DATABASE), start_at=start_at)
    stop = asyncio.Event()
    task = asyncio.create_task(writer.run(stop))
    await asyncio.sleep(warmup)
    steady = list(writer.latencies)
    old = ha.primary()
    assert old is not None
    killed_at = time.monotonic()
    writer.mark(killed_at)
    crash(old, kind)
    deadline = killed_at + timeout
    # no heal() yet: a crashed machine stays down until its standby has taken over
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(writer.recovered.wait(), timeout)
    first = writer.recovered_at
    await asyncio.sleep(1)  # a little writing on the new primary
    stop.set()
    await task
    rejoin_started = time.monotonic()
    while not await asyncio.to_thread(ha.healthy) and time.monotonic() < deadline + timeout:
        await asyncio.to_thread(ha.heal)
        await asyncio.sleep(0.5)
    rejoined = await asyncio.to_thread(ha.healthy)
    stored = await asyncio.to_thread(stored_numbers, ha)
    lost = sorted(set(writer.acked) - stored)
    new = ha.primary()
    return {
        "kind": kind,
        "old_primary": old.name,
        "new_primary": new.name if new else None,
        "failover_s": None if first is None else round(first - killed_at, 3),
        "rejoin_s": round(time.monotonic() - rejoin_started, 1) if rejoined else None,
        "acked": len(writer.acked),
        "lost": len(lost),
        "lost_numbers": lost[:20],
        "errors": writer.errors,
        "commit_p50_ms": _ms(steady, 0.5),
        "commit_p99_ms": _ms(steady, 0.99),
        "commits_per_s": round(len(steady) / warmup, 1),
        "next": (writer.acked[-1] if writer.acked else start_at) + 1000,
    }


def _ms(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


async def run_mode(
    mode: Replication, kinds: list[Kind], reps: int, warmup: float
) -> list[dict[str, Any]]:
    root = Path(tempfile.mkdtemp(prefix=f"reelstream-failover-{mode}-", dir="/tmp"))
    os.chmod(root, 0o755)  # PostgreSQL (user postgres) must reach its data below
    ha = HaPostgres(root, root / "logs", mode)
    results = []
    try:
        await asyncio.to_thread(ha.start)
        await asyncio.to_thread(ha.ensure_database, DATABASE)
        await asyncio.to_thread(ha.psql, ha.wait_primary(), TABLE, DATABASE)
        start_at = 1
        for rep in range(reps):
            for kind in kinds:
                result = await one_failover(ha, kind, warmup, start_at)
                start_at = result.pop("next")
                result.update(mode=mode, rep=rep + 1)
                print(json.dumps(result), flush=True)
                results.append(result)
    finally:
        await asyncio.to_thread(ha.stop)
        shutil.rmtree(root, ignore_errors=True)
    return results


def table(results: list[dict[str, Any]]) -> str:
    """Medians per (mode, kind) as a Markdown table."""
    lines = [
        "| replication | crash | runs | failover s (median, max) | lost acked rows (total) "
        "| commit p50 / p99 ms | commits/s | rejoin s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    keys = sorted({(r["mode"], r["kind"]) for r in results}, key=lambda k: (k[0] != "sync", k))
    for mode, kind in keys:
        rows = [r for r in results if r["mode"] == mode and r["kind"] == kind]

        def med(key: str, rows: list[dict[str, Any]] = rows) -> Any:
            values = [r[key] for r in rows if r[key] is not None]
            return round(statistics.median(values), 2) if values else "-"

        failovers = [r["failover_s"] for r in rows if r["failover_s"] is not None]
        worst = max(failovers) if failovers else "-"
        lost = sum(r["lost"] for r in rows)
        lines.append(
            f"| {mode} | {kind} | {len(rows)} | {med('failover_s')}, {worst} | {lost} "
            f"| {med('commit_p50_ms')} / {med('commit_p99_ms')} | {med('commits_per_s')} "
            f"| {med('rejoin_s')} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--modes", default="sync,async")
    parser.add_argument("--kinds", default="postgres,node")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of writing first")
    parser.add_argument("--json", type=Path, default=Path("failover.json"))
    args = parser.parse_args(argv)
    modes: list[Replication] = [m for m in ("sync", "async") if m in args.modes.split(",")]
    kinds: list[Kind] = [k for k in ("postgres", "node") if k in args.kinds.split(",")]
    results: list[dict[str, Any]] = []
    for mode in modes:
        results += asyncio.run(run_mode(mode, kinds, args.reps, args.warmup))
    with contextlib.suppress(OSError):
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())

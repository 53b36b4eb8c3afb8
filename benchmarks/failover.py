"""Benchmark: PostgreSQL failover under Patroni, synchronous against asynchronous replication.

The local cluster's HA pair alone (three etcd members, Patroni nodes pg-1 and pg-2, the
emulated watchdog; ``reelstream.devcluster.ha``), no reelstream roles. For each replication
mode, each link delay and each repetition:

* ``--writers`` connections insert numbered rows as fast as they can through the multi-host
  writer URL (``target_session_attrs=read-write``, reelstream's own connector); the commit
  latency in steady state is the cost of the mode (p50/p99);
* with ``--link-latency-ms`` (and/or ``--link-bandwidth``) the replication link goes through a
  proxy on each node's ``connect_address`` (``benchmarks.chaos.delayline``): a one-way delay
  each way, as between machines; without it the nodes talk over plain loopback;
* the primary is crashed: ``postgres`` = SIGKILL of the postmaster and its backends (Patroni
  lives and fails over at once: ``primary_start_timeout`` 0; the machine lives, so what its
  kernel already sent still reaches the standby), or ``node`` = SIGKILL of Patroni and
  PostgreSQL together, a dead machine: its link is cut at the same moment (the bytes still in
  flight on it are dropped) and the standby waits for the leader lock to expire (``ttl`` 10 s);
* failover time = the death to the first acknowledged insert sent after it;
* once the old node has rejoined as a replica (``pg_rewind``), lost = acknowledged row
  numbers missing from the table (RPO, in rows), the loss window in time (the last row
  acknowledged before the crash against the last one that survived) and the standby's lag
  just before the crash as its primary saw it (``benchmarks.failover_window``).

    python -m benchmarks.failover [--reps 3] [--modes sync,async] [--kinds postgres,node]
        [--warmup 3] [--writers 1] [--link-latency-ms 0,2,10] [--link-bandwidth B/s]
        [--json failover.json]
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

from benchmarks.chaos.delayline import LinkHub
from benchmarks.failover_window import LagSampler, loss_window
from reelstream.db.database import PgConnector
from reelstream.devcluster.ha import HaPostgres
from reelstream.devcluster.patroni import PatroniNode, Replication

Kind = Literal["postgres", "node"]
DATABASE = "failover"
SETTLE_S = 0.5  # between finding the processes to kill and killing them
TABLE = "CREATE TABLE IF NOT EXISTS numbered (n bigint PRIMARY KEY, at timestamptz DEFAULT now())"


@dataclass
class NumberedWriter:
    """Inserts ``start_at``, ``start_at + step``, ... on one connection, reconnecting after any
    error; remembers which numbers the server acknowledged, when (sent and acknowledged here,
    begun by the server's clock), and how long each commit took.

    ``mark(t)`` arms ``recovered``: set by the first acknowledgement of an insert *sent* after
    ``t`` (an insert in flight at a crash may still be acknowledged by the old primary).
    """

    url: str
    start_at: int = 1
    step: int = 1
    acked: list[int] = field(default_factory=list)
    acked_at: list[float] = field(default_factory=list)
    sent_at: list[float] = field(default_factory=list)
    began_at: list[float] = field(default_factory=list)  # the server's now(), epoch seconds
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
        n = self.start_at - self.step
        while not stop.is_set():
            try:
                if conn is None:
                    conn = await connector.connect()
                n += self.step
                sent = time.monotonic()
                t0 = time.perf_counter()
                at = await conn.fetchval("INSERT INTO numbered (n) VALUES ($1) RETURNING at", n)
                self.latencies.append(time.perf_counter() - t0)
                self.acked.append(n)
                self.acked_at.append(time.monotonic())
                self.sent_at.append(sent)
                self.began_at.append(at.timestamp())
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


def link_name(node: PatroniNode) -> str:
    return f"replication-{node.name}"


def receiver_port(ha: HaPostgres) -> int | None:
    """The port the standby's walreceiver streams from (``pg_stat_wal_receiver``)."""
    replica = ha.replica()
    if replica is None:
        return None
    out = ha.psql(replica, "SELECT sender_port FROM pg_stat_wal_receiver")
    return int(out) if out.strip().isdigit() else None


def _dsn(node: PatroniNode) -> str:
    return f"postgresql+asyncpg://postgres@127.0.0.1:{node.port}/{DATABASE}"


async def one_failover(
    ha: HaPostgres,
    kind: Kind,
    warmup: float,
    start_at: int,
    *,
    writers: int = 1,
    links: LinkHub | None = None,
    cut: bool | None = None,
    timeout: float = 90,
) -> dict[str, Any]:
    """Write, crash the primary, write on; then heal, wait for the pair, count the losses.

    ``cut`` (default: with a ``node`` crash) also cuts the old primary's replication link at
    the crash: the bytes it still held for the standby die with the machine."""
    old = ha.primary()
    assert old is not None
    cut = (kind == "node") if cut is None else cut
    url = ha.writer_url(DATABASE)
    team = [NumberedWriter(url, start_at=start_at + i, step=writers) for i in range(writers)]
    sampler = LagSampler(_dsn(old))
    stop, sampling = asyncio.Event(), asyncio.Event()
    tasks = [asyncio.create_task(w.run(stop)) for w in team]
    lag_task = asyncio.create_task(sampler.run(sampling))
    # The processes to kill are found (reading /proc for some ms, in a thread) a little
    # before the crash, so the writers are back at full speed when it comes; the signals then
    # go out on the writers' own loop, so no commit is acknowledged half-way through the kill
    # (a walsender killed while backends still commit would lose rows in any mode).
    await asyncio.sleep(max(0.0, warmup - SETTLE_S))
    what: Literal["node", "postgres"] = "node" if kind == "node" else "postgres"
    pids = await asyncio.to_thread(old.crash_pids, what)
    await asyncio.sleep(min(warmup, SETTLE_S))
    steady = [x for w in team for x in w.latencies]
    killed_at = time.monotonic()

    moments: list[float] = []

    def signalled() -> None:
        moments.append(time.monotonic())  # the moment of death
        if cut and links is not None:
            links.cut(link_name(old))  # the bytes the dead machine had not yet delivered
        moments.append(time.monotonic())

    old.kill(what, pids=pids, signalled=signalled)
    crashed_at, cut_at = moments
    for w in team:
        w.mark(crashed_at)  # recovered: an insert sent after the death, acknowledged
    sampling.set()
    deadline = crashed_at + timeout
    # no heal() yet: a crashed machine stays down until its standby has taken over
    waits = [asyncio.create_task(w.recovered.wait()) for w in team]
    await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    for waiting in waits:
        waiting.cancel()
    recoveries = [w.recovered_at for w in team if w.recovered_at is not None]
    first = min(recoveries) if recoveries else None
    await asyncio.sleep(1)  # a little writing on the new primary
    stop.set()
    await asyncio.gather(*tasks, lag_task)
    rejoin_started = time.monotonic()
    while not await asyncio.to_thread(ha.healthy) and time.monotonic() < deadline + timeout:
        await asyncio.to_thread(ha.heal)
        await asyncio.sleep(0.5)
    rejoined = await asyncio.to_thread(ha.healthy)
    stored = await asyncio.to_thread(stored_numbers, ha)
    new = ha.primary()
    acked = [n for w in team for n in w.acked]
    return {
        "kind": kind,
        "writers": writers,
        "link_cut": bool(cut and links is not None),
        "old_primary": old.name,
        "new_primary": new.name if new else None,
        "crash_ms": round(1000 * (crashed_at - killed_at), 1),
        "cut_ms": round(1000 * (cut_at - crashed_at), 1),
        "failover_s": None if first is None else round(first - crashed_at, 3),
        "rejoin_s": round(time.monotonic() - rejoin_started, 1) if rejoined else None,
        "acked": len(acked),
        **loss_window(team, stored, crashed_at),
        "lag_at_crash": sampler.before(crashed_at),
        "errors": sum(w.errors for w in team),
        "commit_p50_ms": _ms(steady, 0.5),
        "commit_p99_ms": _ms(steady, 0.99),
        "commits_per_s": round(len(steady) / warmup, 1),
        "next": max(acked, default=start_at) + 1000,
    }


def _ms(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


@dataclass
class Link:
    """The replication link's shape: one-way delays to try (ms) and a bandwidth cap (bytes/s;
    0 = none). ``delays_ms`` None: no proxy at all (the nodes talk over plain loopback)."""

    delays_ms: list[float] | None = None
    rate_bps: float = 0.0

    def apply(self, links: LinkHub, delay_ms: float) -> None:
        if delay_ms > 0:
            links.set("latency", delay_s=delay_ms / 1000)
        elif self.rate_bps > 0:
            links.set("bandwidth", rate_bps=self.rate_bps)
        else:
            links.set("pass")


async def run_mode(
    mode: Replication,
    kinds: list[Kind],
    reps: int,
    warmup: float,
    *,
    link: Link | None = None,
    writers: int = 1,
) -> list[dict[str, Any]]:
    link = link or Link()
    root = Path(tempfile.mkdtemp(prefix=f"reelstream-failover-{mode}-", dir="/tmp"))
    os.chmod(root, 0o755)  # PostgreSQL (user postgres) must reach its data below
    links = LinkHub() if link.delays_ms is not None else None
    hook = links.interpose if links is not None else (lambda _name, port: port)
    ha = HaPostgres(root, root / "logs", mode, replication_link=hook)
    results = []
    try:
        await asyncio.to_thread(ha.start)
        await asyncio.to_thread(ha.ensure_database, DATABASE)
        await asyncio.to_thread(ha.psql, ha.wait_primary(), TABLE, DATABASE)
        start_at = 1
        for delay_ms in link.delays_ms or [0.0]:
            if links is not None:
                link.apply(links, delay_ms)
            for rep in range(reps):
                for kind in kinds:
                    result = await one_failover(
                        ha, kind, warmup, start_at, writers=writers, links=links
                    )
                    start_at = result.pop("next")
                    result.update(mode=mode, rep=rep + 1, link_ms=delay_ms)
                    result["link_rate_bps"] = link.rate_bps if links is not None else None
                    result["through_proxy"] = _through_proxy(ha) if links is not None else None
                    print(json.dumps(result), flush=True)
                    results.append(result)
    finally:
        await asyncio.to_thread(ha.stop)
        if links is not None:
            links.close()
        shutil.rmtree(root, ignore_errors=True)
    return results


def _through_proxy(ha: HaPostgres) -> bool:
    """Whether the standby streams from the primary's proxy port, not its own."""
    primary = ha.primary()
    return primary is not None and receiver_port(ha) == primary.connect_port != primary.port


def table(results: list[dict[str, Any]]) -> str:
    """Medians per (mode, link delay, kind) as a Markdown table."""
    lines = [
        "| replication | link one-way ms | crash | runs | failover s (median, max) "
        "| lost acked rows (per run) | loss window ms (median, max) | standby write lag at crash "
        "ms / unflushed kB (median) | commit p50 / p99 ms | commits/s | rejoin s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    keys = sorted(
        {(r["mode"], r.get("link_ms", 0.0), r["kind"]) for r in results},
        key=lambda k: (k[0] != "sync", k[1], k[2]),
    )
    for mode, link_ms, kind in keys:
        rows = [
            r
            for r in results
            if r["mode"] == mode and r.get("link_ms", 0.0) == link_ms and r["kind"] == kind
        ]

        def med(values: list[Any]) -> Any:
            values = [v for v in values if v is not None]
            return round(statistics.median(values), 2) if values else "-"

        def worst(values: list[Any]) -> Any:
            values = [v for v in values if v is not None]
            return max(values) if values else "-"

        failovers = [r["failover_s"] for r in rows]
        windows = [r.get("loss_window_ms") for r in rows]
        lags = [r.get("lag_at_crash", {}) for r in rows]
        unflushed = [lag.get("unflushed_bytes") for lag in lags]
        unflushed_kb = [None if b is None else b / 1024 for b in unflushed]
        lost = ", ".join(str(r["lost"]) for r in rows)
        p50, p99 = med([r["commit_p50_ms"] for r in rows]), med([r["commit_p99_ms"] for r in rows])
        lines.append(
            f"| {mode} | {link_ms:g} | {kind} | {len(rows)} | {med(failovers)}, {worst(failovers)} "
            f"| {lost} | {med(windows)}, {worst(windows)} "
            f"| {med([lag.get('write_lag_ms') for lag in lags])} / {med(unflushed_kb)} "
            f"| {p50} / {p99} "
            f"| {med([r['commits_per_s'] for r in rows])} | {med([r['rejoin_s'] for r in rows])} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--modes", default="sync,async")
    parser.add_argument("--kinds", default="postgres,node")
    parser.add_argument("--warmup", type=float, default=3.0, help="seconds of writing first")
    parser.add_argument("--writers", type=int, default=1, help="concurrent writer connections")
    parser.add_argument(
        "--link-latency-ms",
        default=None,
        help="one-way delays (comma-separated, e.g. 0,2,10) added on the replication link "
        "through a proxy, each tried in turn; without it the nodes talk over plain loopback",
    )
    parser.add_argument(
        "--link-bandwidth",
        type=float,
        default=0.0,
        help="bytes/s cap on the replication link (used where the delay is 0)",
    )
    parser.add_argument("--json", type=Path, default=Path("failover.json"))
    args = parser.parse_args(argv)
    modes: list[Replication] = [m for m in ("sync", "async") if m in args.modes.split(",")]
    kinds: list[Kind] = [k for k in ("postgres", "node") if k in args.kinds.split(",")]
    delays = args.link_latency_ms
    if delays is None and args.link_bandwidth > 0:
        delays = "0"
    link = Link(
        delays_ms=None if delays is None else [float(d) for d in delays.split(",")],
        rate_bps=args.link_bandwidth,
    )
    results: list[dict[str, Any]] = []
    for mode in modes:
        results += asyncio.run(
            run_mode(mode, kinds, args.reps, args.warmup, link=link, writers=args.writers)
        )
    with contextlib.suppress(OSError):
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())

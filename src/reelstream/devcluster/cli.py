"""``reelstream cluster up``: the whole scale-out stack on this machine, until Ctrl-C."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from types import FrameType
from typing import Literal

import click


@click.group("cluster")
def cluster() -> None:
    """Run PostgreSQL, Redis, Swift, api/origin/worker roles, the nginx edge and the
    monitoring stack (Prometheus, Alertmanager, exporters) locally."""


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _already_stopping(signum: int, frame: FrameType | None) -> None:
    click.echo("already stopping; please wait", err=True)


@cluster.command("up")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("data/cluster"),
    show_default=True,
    help="Where the engines keep their data, and the logs and cluster.json.",
)
@click.option(
    "--api", "apis", type=click.IntRange(1, 32), default=2, show_default=True, help="api processes."
)
@click.option(
    "--origins", type=click.IntRange(1, 32), default=2, show_default=True, help="origin processes."
)
@click.option(
    "--workers", type=click.IntRange(0, 32), default=2, show_default=True, help="worker processes."
)
@click.option(
    "--http-workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Server processes behind each api and origin port (their --workers).",
)
@click.option(
    "--edge-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Port of the nginx edge [8080 when free, else any free port].",
)
@click.option(
    "--pg-replication",
    type=click.Choice(["sync", "async"]),
    default="sync",
    show_default=True,
    help="PostgreSQL standby: sync (no acknowledged write lost on failover; slower commits) "
    "or async (faster commits; a failover may lose the last ones).",
)
@click.option(
    "--no-monitoring",
    is_flag=True,
    help="Skip Prometheus, Alertmanager and the exporters (docs/operations.md).",
)
@click.option(
    "--scrape-interval",
    type=click.FloatRange(0.5, 300),
    default=15.0,
    show_default=True,
    help="Seconds between Prometheus scrapes and rule evaluations.",
)
@click.option(
    "--alert-webhook",
    metavar="URL",
    default=None,
    help="Where Alertmanager posts alerts (a loopback http:// URL) [nowhere].",
)
@click.option(
    "--alert-for",
    metavar="ALERT=DURATION",
    multiple=True,
    help="Use DURATION instead of the shipped `for:` of ALERT (drills and tests; repeatable).",
)
def up(
    data_dir: Path,
    apis: int,
    origins: int,
    workers: int,
    http_workers: int,
    edge_port: int | None,
    pg_replication: Literal["sync", "async"],
    no_monitoring: bool,
    scrape_interval: float,
    alert_webhook: str | None,
    alert_for: tuple[str, ...],
) -> None:
    """Start everything on 127.0.0.1, print the URLs, restart any process that exits (like
    systemd's Restart=always), and stop it all on Ctrl-C or SIGTERM."""
    from reelstream.devcluster.cluster import ClusterError, ClusterSpec, LocalCluster
    from reelstream.devcluster.monitoring import MonitoringSpec
    from reelstream.devcluster.monitoring_config import check_webhook, parse_alert_for
    from reelstream.devcluster.process import StartError
    from reelstream.edge.errors import EdgeError

    monitoring = None
    if not no_monitoring:
        try:
            monitoring = MonitoringSpec(
                interval_s=scrape_interval,
                alert_webhook=None if alert_webhook is None else check_webhook(alert_webhook),
                alert_for=parse_alert_for(alert_for),
            )
        except ClusterError as exc:
            raise click.BadParameter(str(exc)) from None
    spec = ClusterSpec(
        data_dir,
        apis=apis,
        origins=origins,
        workers=workers,
        http_workers=http_workers,
        edge_port=edge_port,
        pg_replication=pg_replication,
        monitoring=monitoring,
    )
    local = LocalCluster(spec, echo=click.echo)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _interrupt)  # even where a shell started us with SIGINT ignored
    failure: str | None = None
    try:
        local.start()
        for line in local.summary():
            click.echo(line)
        click.echo("Ctrl-C stops everything.")
        while True:
            time.sleep(1)
            for message in local.supervise():
                click.echo(f"supervisor: {message}", err=True)
    except KeyboardInterrupt:
        click.echo("stopping: roles, then the edge, then the engines")
    except ClusterError as exc:
        failure = str(exc)
    except (StartError, EdgeError, OSError) as exc:
        failure = f"the cluster did not start: {exc}"
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, _already_stopping)
        left = local.stop()
        if left:
            click.echo(f"killed processes that outlived the stop: {left}", err=True)
        elif failure is None:
            click.echo("stopped; no process left behind")
    if failure is not None:
        raise click.ClickException(failure)

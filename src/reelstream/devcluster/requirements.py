"""What the local cluster needs installed, and the error it raises when it cannot start."""

from __future__ import annotations

from reelstream.devcluster.etcd import find_etcd
from reelstream.devcluster.patroni import find_patroni
from reelstream.devcluster.postgres import PG_BIN, pg_available
from reelstream.devcluster.process import which
from reelstream.devcluster.redis import find_redis
from reelstream.devcluster.swift import SWIFT_BINARIES, SWIFT_CONF
from reelstream.edge import render
from reelstream.edge.config import NJS_MODULE

APT_PACKAGES = (
    "postgresql-15 patroni etcd-server redis-server nginx libnginx-mod-http-js memcached "
    "swift swift-proxy swift-object swift-account swift-container"
)
MONITORING_BINARIES = {
    "prometheus": "prometheus",
    "alertmanager": "prometheus-alertmanager",
    "postgres-exporter": "prometheus-postgres-exporter",
    "redis-exporter": "prometheus-redis-exporter",
    "nginx-exporter": "prometheus-nginx-exporter",
    "node-exporter": "prometheus-node-exporter",
    "mtail": "mtail",
}
"""The monitoring stack's programs (``monitoring.py``), each from the Debian package of its name."""
MONITORING_PACKAGES = " ".join(MONITORING_BINARIES.values())


class ClusterError(Exception):
    """The cluster cannot start; the message says why and what to do."""


def missing_requirements(monitoring: bool = False) -> list[str]:
    """What the cluster needs and this machine lacks (empty when everything is installed);
    with ``monitoring``, the monitoring stack's programs too."""
    missing = []
    if monitoring:
        missing += [b for b in MONITORING_BINARIES.values() if which(b) is None]
    if not pg_available():
        missing.append(f"postgresql-15 ({PG_BIN})")
    if find_patroni() is None:
        missing.append("patroni")
    if find_etcd() is None:
        missing.append("etcd-server")
    if find_redis() is None:
        missing.append("redis-server")
    if render.find_nginx() is None:
        missing.append("nginx")
    if not NJS_MODULE.is_file():
        missing.append(f"libnginx-mod-http-js ({NJS_MODULE})")
    missing += [b for b in SWIFT_BINARIES if which(b) is None]
    if not SWIFT_CONF.is_file():
        missing.append(f"swift ({SWIFT_CONF})")
    return missing


def check_requirements(monitoring: bool = False) -> None:
    missing = missing_requirements(monitoring)
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        packages = f"{APT_PACKAGES} {MONITORING_PACKAGES}" if monitoring else APT_PACKAGES
        raise ClusterError(
            f"{', '.join(missing)} {verb} not installed: apt-get install {packages}"
            + (" (or run without the monitoring stack: --no-monitoring)" if monitoring else "")
        )

"""An OpenStack Swift cluster speaking the S3 API (``s3api``), on loopback ports.

memcached, an object ring of 3 devices with 3 replicas served by ONE object server per device
(so one replica holder can be stopped), one account and one container server and a proxy with
``s3api tempauth``. The account and container rings have one replica: their single server gives
no redundancy anyway, and with one container database listings stay exact while an object server
is down (with three, the replica whose update rode on the dead object server lags until a
container replicator, which is not run here, catches it up). Every server runs in the
foreground (``workers = 0``) with ``--verbose``, logging to ``<logs_dir>/swift-<name>.log``.

Rings are rebuilt at every start (ports are chosen then); the devices under ``<root>/srv`` keep
their objects between starts. They need a filesystem with extended attributes.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reelstream.devcluster.process import (
    AS_ROOT,
    StartError,
    free_port,
    port_open,
    spawn,
    stop_process,
    wait_until,
    which,
)

ACCESS_KEY = "test:tester"
SECRET_KEY = "testing"  # noqa: S105 (the local store's tempauth user)
REGION = "us-east-1"
SWIFT_BINARIES = (
    "swift-ring-builder",
    "swift-proxy-server",
    "swift-account-server",
    "swift-container-server",
    "swift-object-server",
    "memcached",
)
SWIFT_CONF = Path("/etc/swift/swift.conf")  # Swift reads its hash prefix/suffix only there
DEVICES = 3
START_TIMEOUT_S = 60


def swift_available() -> bool:
    return SWIFT_CONF.is_file() and all(which(b) for b in SWIFT_BINARIES)


def supports_xattrs(folder: Path) -> bool:
    probe = folder / ".xattr-probe"
    try:
        probe.write_bytes(b"")
        os.setxattr(probe, "user.reelstream", b"1")
        return True
    except OSError:
        return False
    finally:
        probe.unlink(missing_ok=True)


def cluster_dir(candidate: Path) -> tuple[Path, bool]:
    """A folder for the devices on a filesystem with xattrs (tmpfs may lack them).

    Returns the folder and whether the caller must remove it."""
    if supports_xattrs(candidate):
        return candidate, False
    for base in ("/var/tmp", str(Path.home())):  # noqa: S108
        folder = Path(tempfile.mkdtemp(prefix="reelstream-swift-", dir=base))
        if supports_xattrs(folder):
            return folder, True
        shutil.rmtree(folder, ignore_errors=True)
    raise StartError("no filesystem with extended attributes for Swift's devices")


def _common(root: Path, name: str, port: int) -> str:
    user = "root" if AS_ROOT else getpass.getuser()
    return (
        "[DEFAULT]\n"
        f"bind_ip = 127.0.0.1\nbind_port = {port}\n"
        f"swift_dir = {root}\ndevices = {root / 'srv'}\n"
        f"mount_check = false\nuser = {user}\nworkers = 0\n"
        f"log_name = {name}\nlog_level = INFO\n"
    )


def _server_conf(root: Path, name: str, port: int, kind: str) -> Path:
    path = root / f"{name}.conf"
    path.write_text(
        _common(root, name, port)
        + f"\n[pipeline:main]\npipeline = {kind}-server\n"
        + f"\n[app:{kind}-server]\nuse = egg:swift#{kind}\n"
    )
    return path


def _proxy_conf(root: Path, port: int, memcached_port: int) -> Path:
    filters = {
        "catch_errors": "",
        "gatekeeper": "",
        "healthcheck": "",
        "proxy-logging": "",
        "cache": f"memcache_servers = 127.0.0.1:{memcached_port}\n",
        "listing_formats": "",
        "s3api": f"location = {REGION}\nmax_upload_part_num = 10000\n",
        "tempauth": f"user_test_tester = {SECRET_KEY} .admin\n",
        "copy": "",
        "slo": "max_manifest_segments = 10000\n",
        "dlo": "",
    }
    pipeline = (
        "catch_errors gatekeeper healthcheck proxy-logging cache listing_formats "
        "s3api tempauth copy slo dlo proxy-logging proxy-server"
    )
    text = _common(root, "proxy", port)
    text += f"\n[pipeline:main]\npipeline = {pipeline}\n"
    text += (
        "\n[app:proxy-server]\nuse = egg:swift#proxy\naccount_autocreate = true\n"
        # a restarted object server is used again within a second
        "error_suppression_interval = 1\n"
    )
    for name, extra in filters.items():
        egg = "memcache" if name == "cache" else name.replace("-", "_")
        text += f"\n[filter:{name}]\nuse = egg:swift#{egg}\n{extra}"
    path = root / "proxy.conf"
    path.write_text(text)
    return path


RING_SCRIPT = """
import json, sys
from swift.common.ring import RingBuilder
root, spec = sys.argv[1], json.loads(sys.argv[2])
for kind, ports in spec.items():
    builder = RingBuilder(8, len(ports), 0)
    for i, port in enumerate(ports, 1):
        builder.add_dev({"id": i - 1, "region": 1, "zone": i, "ip": "127.0.0.1",
                         "port": port, "device": "d%d" % i, "weight": 100})
    builder.rebalance(seed=1)
    builder.save("%s/%s.builder" % (root, kind))
    builder.get_ring().save("%s/%s.ring.gz" % (root, kind))
"""


def _build_rings(root: Path, spec: dict[str, list[int]]) -> None:
    """The rings named in ``spec`` (kind -> one port per device): one device per zone, as
    many replicas as devices.

    One interpreter builds them all (15 ``swift-ring-builder`` runs take seconds); it is the
    interpreter Swift is installed for, found on the first line of ``swift-ring-builder``."""
    tool = which("swift-ring-builder")
    if tool is None:
        raise StartError("swift-ring-builder is not installed")
    first = Path(tool).read_text(errors="replace").splitlines()[0]
    python = first[2:].strip().split()[0] if first.startswith("#!") else "python3"
    out = subprocess.run(
        [python, "-c", RING_SCRIPT, str(root), json.dumps(spec)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise StartError(f"building the Swift rings failed: {out.stdout}{out.stderr}")


@dataclass
class SwiftCluster:
    """A Swift cluster in ``root``: its S3 endpoint and a handle on every server process."""

    root: Path
    logs_dir: Path | None = None
    endpoint_url: str = ""
    object_ports: list[int] = field(default_factory=list)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    argv: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.logs_dir is None:
            self.logs_dir = self.root / "logs"

    def log_path(self, name: str) -> Path:
        assert self.logs_dir is not None
        return self.logs_dir / f"swift-{name}.log"

    def _spawn(self, name: str) -> None:
        self.procs[name] = spawn(self.argv[name], self.log_path(name), cwd=self.root)

    def start(self) -> None:
        root = self.root
        for i in range(1, DEVICES + 1):
            (root / "srv" / f"d{i}").mkdir(parents=True, exist_ok=True)
        mc, proxy, account, container = (free_port() for _ in range(4))
        self.object_ports = [free_port() for _ in range(DEVICES)]
        _build_rings(
            root,
            {"account": [account], "container": [container], "object": self.object_ports},
        )
        self.argv["memcached"] = [
            "memcached", *(["-u", "root"] if AS_ROOT else []),
            "-l", "127.0.0.1", "-p", str(mc), "-U", "0", "-m", "64",
        ]  # fmt: skip
        for kind, port in (("account", account), ("container", container)):
            conf = _server_conf(root, kind, port, kind)
            self.argv[kind] = [f"swift-{kind}-server", str(conf), "--verbose"]
        for i, port in enumerate(self.object_ports, 1):
            conf = _server_conf(root, f"object{i}", port, "object")
            self.argv[f"object{i}"] = ["swift-object-server", str(conf), "--verbose"]
        self.argv["proxy"] = [
            "swift-proxy-server", str(_proxy_conf(root, proxy, mc)), "--verbose"
        ]  # fmt: skip
        for name in self.argv:
            self._spawn(name)
        self.endpoint_url = f"http://127.0.0.1:{proxy}"
        self._wait_up(START_TIMEOUT_S)

    def _dead(self) -> str | None:
        dead = [n for n, p in self.procs.items() if p.poll() is not None]
        return f"server(s) {dead} exited:\n{self.logs()}" if dead else None

    def _answers(self) -> bool:
        if not all(port_open(p) for p in self.object_ports):
            return False
        self.client().list_buckets()
        return True

    def _wait_up(self, timeout: float) -> None:
        try:
            wait_until(
                self._answers, timeout=timeout, what="Swift", failed=self._dead, interval=0.3
            )
        except StartError as exc:
            raise StartError(f"{exc}\n{self.logs()}") from None

    def client(self) -> Any:
        """A plain boto3 client for the cluster."""
        import boto3  # type: ignore[import-untyped]
        from botocore.config import Config  # type: ignore[import-untyped]

        return boto3.session.Session().client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=Config(
                s3={"addressing_style": "path"},
                connect_timeout=2,
                read_timeout=30,
                retries={"max_attempts": 1},
                request_checksum_calculation="when_required",
                response_checksum_validation="when_required",
            ),
        )

    def ensure_bucket(self, name: str) -> None:
        """Create ``name`` unless it exists already."""
        client = self.client()
        try:
            client.head_bucket(Bucket=name)
        except client.exceptions.ClientError:
            client.create_bucket(Bucket=name)

    def settings(self, bucket: str) -> dict[str, str]:
        """reelstream settings (``storage_backend``, ``s3_*``) for ``bucket`` on this cluster."""
        return {
            "storage_backend": "s3",
            "s3_endpoint_url": self.endpoint_url,
            "s3_bucket": bucket,
            "s3_region": REGION,
            "s3_access_key": ACCESS_KEY,
            "s3_secret_key": SECRET_KEY,
            "s3_addressing_style": "path",
        }

    def pids(self) -> dict[str, int]:
        return {n: p.pid for n, p in self.procs.items() if p.poll() is None}

    def restart(self, name: str) -> None:
        """Start server ``name`` again with the same argv (same port) after it exited."""
        self._spawn(name)

    def stop_object_server(self, index: int) -> None:
        """Kill the object server of device ``index`` (1-based): one replica holder is gone."""
        proc = self.procs[f"object{index}"]
        proc.kill()
        proc.wait()

    def start_object_server(self, index: int) -> None:
        name = f"object{index}"
        if self.procs[name].poll() is None:
            return
        self._spawn(name)
        port = self.object_ports[index - 1]
        try:
            wait_until(
                lambda: port_open(port),
                timeout=30,
                what=f"object server {index}",
                failed=lambda: "exited" if self.procs[name].poll() is not None else None,
            )
        except StartError as exc:
            raise StartError(f"{exc}\n{self.logs()}") from None

    def logs(self, size: int = 3000) -> str:
        assert self.logs_dir is not None
        out = []
        for path in sorted(self.logs_dir.glob("swift-*.log")):
            out.append(f"--- {path.name}\n{path.read_text(errors='replace')[-size:]}")
        return "\n".join(out)

    def stop(self) -> None:
        """Stop the proxy first, then the storage servers, then memcached."""
        order = sorted(self.procs, key=lambda n: (n != "proxy", n == "memcached"))
        for name in order:
            with contextlib.suppress(Exception):
                stop_process(self.procs[name], timeout=10)

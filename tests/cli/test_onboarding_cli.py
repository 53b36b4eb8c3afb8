"""What the CLI tells a new operator, in-process (``CliRunner``; uvicorn itself never runs):
the mode it starts in, a taken port and an unusable data dir in one line with exit status 2
(before anything is registered), help texts that fit each command, and ``timeline`` exiting
non-zero on a failed video."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from click.testing import CliRunner

from reelstream.cli import processing
from reelstream.cli.main import main
from reelstream.cli.server import uvicorn_options
from reelstream.config import Settings
from reelstream.devcluster.process import free_port

pytestmark = pytest.mark.timeout(60)

CLEAN_ENV: dict[str, str | None] = {"REELSTREAM_ENV": None, "REELSTREAM_DATA_DIR": None}


def never(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("uvicorn must not start")


def test_a_taken_port_is_one_line_and_exit_2_before_anything_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(uvicorn, "run", never)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        data = tmp_path / "data"
        args = ["serve", "--port", str(port), "--data-dir", str(data)]
        result = CliRunner().invoke(main, args, env=CLEAN_ENV)
    assert result.exit_code == 2, result.output
    assert f"cannot listen on 127.0.0.1:{port}" in result.output
    assert "--port" in result.output and "Traceback" not in result.output
    assert not data.exists()  # no database, so no worker registered and no migration run


def test_an_unusable_data_dir_is_one_line_and_exit_2(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    data = blocker / "data"  # cannot be created, whoever runs the test (root included)
    for args in (
        ["serve", "--port", str(free_port()), "--data-dir", str(data)],
        ["migrate", "--data-dir", str(data)],
        ["users", "create", "ann", "--data-dir", str(data)],
    ):
        result = CliRunner().invoke(main, args, env=CLEAN_ENV)
        assert result.exit_code == 2, (args, result.output)
        assert f"cannot use the data dir {data}" in result.output, args
        assert "Traceback" not in result.output and result.exception is not None
        assert isinstance(result.exception, SystemExit)


def test_serve_says_which_mode_it_runs_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[dict[str, Any]] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **options: started.append(options))
    args = [
        "serve",
        "--port",
        str(free_port()),
        "--data-dir",
        str(tmp_path / "d"),
        "--workers",
        "1",
    ]
    result = CliRunner().invoke(main, args, env=CLEAN_ENV)
    assert result.exit_code == 0, result.output
    assert "(all, production mode) on http://127.0.0.1:" in result.output
    assert started and started[0]["proxy_headers"] is True
    dev = CliRunner().invoke(main, args, env={**CLEAN_ENV, "REELSTREAM_ENV": "development"})
    assert "(all, development mode) on" in dev.output, dev.output


def test_trusted_proxies_reach_uvicorn(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, forwarded_allow_ips="10.0.0.5", _env_file=None)
    assert uvicorn_options(settings)["forwarded_allow_ips"] == "10.0.0.5"
    default = Settings(data_dir=tmp_path, _env_file=None)
    assert "forwarded_allow_ips" not in uvicorn_options(default)  # uvicorn's: loopback


def test_help_texts_fit_each_command() -> None:
    runner = CliRunner()

    def help_of(*command: str) -> str:
        return " ".join(runner.invoke(main, [*command, "--help"]).output.split())

    assert "uploads need one" in help_of("upload")
    for read in (("videos",), ("timeline",)):
        assert "uploads need one" not in help_of(*read), read
    assert "--mine" in help_of("videos").split("REELSTREAM_TOKEN")[1]
    assert "retries need one" in help_of("retry")
    create = help_of("users", "create")
    assert "``" not in create and "admin scope" in create
    assert "reelstream users create NAME --admin --password-stdin" in create


def _timeline(status: str, active: bool = False) -> dict[str, Any]:
    return {
        "video_id": "v" * 16,
        "status": status,
        "error": "the file is not a video" if status == "failed" else None,
        "progress": 0.0,
        "eta_s": None,
        "stages": [],
        "job": {"state": "running" if active else "failed"},
        "retry": {"video": False, "renditions": []},
        "retryable": False,
    }


def test_timeline_exits_1_on_a_failed_video_whatever_the_flags(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    shown = iter([_timeline("processing", active=True), _timeline("failed")])
    monkeypatch.setattr(processing, "FOLLOW_EVERY_S", 0.0)
    monkeypatch.setattr(processing, "fetch_timeline", lambda *a: next(shown))
    result = CliRunner().invoke(main, ["timeline", "v" * 16, "--follow"])
    assert result.exit_code == 1, result.output  # followed until it failed
    for flags in (["--follow"], [], ["--json"]):
        monkeypatch.setattr(processing, "fetch_timeline", lambda *a: _timeline("failed"))
        result = CliRunner().invoke(main, ["timeline", "v" * 16, *flags])
        assert result.exit_code == 1, (flags, result.output)
    assert "retrying will not help" in CliRunner().invoke(main, ["timeline", "v" * 16]).output
    monkeypatch.setattr(processing, "fetch_timeline", lambda *a: _timeline("ready"))
    assert CliRunner().invoke(main, ["timeline", "v" * 16, "--follow"]).exit_code == 0

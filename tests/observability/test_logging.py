"""The log formats: JSON lines and text, with the fields bound by the running request or job,
uvicorn's loggers through the same formatter, and the setting that chooses."""

from __future__ import annotations

import json
import logging

import pytest
from pydantic import ValidationError

from reelstream.config import Settings
from reelstream.devcluster.roles import WORKER_STARTED
from reelstream.observability.context import bound, current_fields
from reelstream.observability.logging import configure_logging


def _lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line]


@pytest.mark.timeout(10)
@pytest.mark.usefixtures("restore_logging")
def test_json_lines_carry_the_bound_fields_and_the_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("INFO", "json")
    log = logging.getLogger("reelstream.test")
    log.info("outside %s", "anything")
    with bound(request_id="req-12345678", job_id=7, kind="transcode", video_id="V" * 16):
        try:
            raise ValueError("broken")
        except ValueError:
            log.exception("the attempt %d crashed", 1, extra={"attempt": 1})
    log.debug("below the level")
    first, second = (json.loads(line) for line in _lines(capsys.readouterr().err))

    assert list(first) == ["ts", "level", "logger", "msg"]
    assert first["ts"].endswith("Z") and first["ts"][:4].isdigit()
    assert (first["level"], first["logger"], first["msg"]) == (
        "INFO",
        "reelstream.test",
        "outside anything",
    )
    assert list(second)[:8] == [
        *("ts", "level", "logger", "msg"),
        *("request_id", "job_id", "kind", "video_id"),
    ]
    assert second["msg"] == "the attempt 1 crashed" and second["level"] == "ERROR"
    assert (second["request_id"], second["job_id"], second["video_id"]) == (
        "req-12345678",
        7,
        "V" * 16,
    )
    assert second["attempt"] == 1
    assert list(second)[-1] == "exc"
    assert "Traceback" in second["exc"] and "ValueError: broken" in second["exc"]
    assert current_fields() == {}  # the block unbound them


@pytest.mark.timeout(10)
@pytest.mark.usefixtures("restore_logging")
def test_uvicorn_loggers_use_the_same_formatter(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    colour = {"color_message": "Started server process [\x1b[36m%d\x1b[0m]"}
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 42, extra=colour)
    with bound(request_id="abcdefgh"):
        logging.getLogger("uvicorn.access").info('%s - "%s %s"', "1.2.3.4", "GET", "/x")
    logging.getLogger("reelstream.worker").info("worker pool started: 1 slot(s) as h:1:0")
    err = capsys.readouterr().err
    started, access, worker = (json.loads(line) for line in _lines(err))
    assert started["logger"] == "uvicorn.error"
    assert started["msg"] == "Started server process [42]"
    assert "color_message" not in started  # uvicorn's ANSI copy of the message
    assert access["logger"] == "uvicorn.access" and access["request_id"] == "abcdefgh"
    # the cluster runs its roles with JSON logs and waits for this in a worker's log
    assert worker["msg"].startswith("worker pool started") and WORKER_STARTED in err.encode()


@pytest.mark.timeout(10)
@pytest.mark.usefixtures("restore_logging")
def test_text_lines_append_the_bound_fields(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "text")
    log = logging.getLogger("reelstream.worker")
    log.info("worker pool started: 1 slot(s)")
    with bound(request_id="abcdefgh", job_id=3):
        log.info("claimed job 3")
    plain, tagged = _lines(capsys.readouterr().err)
    # the cluster waits for this text in a worker's log (devcluster.roles.WORKER_STARTED)
    assert plain.endswith(" INFO reelstream.worker: worker pool started: 1 slot(s)")
    assert tagged.endswith(" INFO reelstream.worker: claimed job 3 [request_id=abcdefgh job_id=3]")


def test_the_log_format_setting_takes_text_or_json_only() -> None:
    assert Settings(_env_file=None).log_format == "text"
    assert Settings(log_format="json", _env_file=None).log_format == "json"
    with pytest.raises(ValidationError, match="log_format"):
        Settings(log_format="xml", _env_file=None)

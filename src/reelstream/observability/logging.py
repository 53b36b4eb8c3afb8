"""Logging set-up: one line per record, as text or as a JSON object (``log_format``).

Both formats carry what ``reelstream.observability.context`` binds while a request or a job
runs (``request_id``; in a worker ``job_id``, ``kind``, ``video_id``):

* ``text`` (the default): ``2026-12-01 05:00:00,123 INFO reelstream.worker: message``,
  followed by `` [request_id=… job_id=…]`` when something is bound;
* ``json``: one object per line (``JSON_FIELDS``): ``ts`` (ISO 8601, UTC), ``level``,
  ``logger``, ``msg``, the bound fields, ``exc`` (the traceback as text) when there is one,
  and any ``extra=`` a caller passed. Written by python-json-logger's ``JsonFormatter`` (a
  plain ``logging.Formatter``, so uvicorn's ``dictConfig`` can name it), not by hand.

``logging_config`` is the ``dictConfig`` of both: the root logger's one stderr handler, with
uvicorn's loggers (``uvicorn``, ``uvicorn.error``, ``uvicorn.access``) sent to it instead of
their own handlers. The CLI applies it (``configure_logging``) and hands the same dict to
uvicorn (``log_config``), which applies it again in each server process it spawns.
"""

from __future__ import annotations

import logging
import logging.config
from typing import Any, Literal

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

from reelstream.observability.context import current_fields

LogFormat = Literal["text", "json"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
JSON_FIELDS = ("ts", "level", "logger", "msg")
"""The keys every JSON line starts with; bound fields and extras follow, ``exc`` last."""
LEADING = (*JSON_FIELDS, "request_id", "job_id", "kind", "video_id")
"""The order of a JSON line's first keys (those present)."""
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
QUIET = "alembic.runtime.plugins"


class TextFormatter(logging.Formatter):
    """The classic line, with the bound fields appended in brackets."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        fields = current_fields()
        if not fields:
            return line
        tail = " ".join(f"{k}={v}" for k, v in fields.items())
        head, newline, rest = line.partition("\n")  # before a traceback, if any
        return f"{head} [{tail}]{newline}{rest}"


class JsonLineFormatter(JsonFormatter):
    """python-json-logger with reelstream's field names and the bound context."""

    def __init__(self) -> None:
        super().__init__(
            ["levelname", "name", "message"],
            rename_fields={
                "levelname": "level",
                "name": "logger",
                "message": "msg",
                "exc_info": "exc",
                "stack_info": "stack",
            },
            timestamp="ts",
            json_ensure_ascii=False,
            # uvicorn's ANSI-coloured copy of each message: noise in a log file
            reserved_attrs=[*RESERVED_ATTRS, "color_message"],
        )

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        for key, value in current_fields().items():
            log_data.setdefault(key, value)

    def process_log_record(self, log_data: dict[str, Any]) -> dict[str, Any]:
        # the fixed keys first (ts as ISO 8601 with a Z), then extras, the traceback last
        log_data["ts"] = log_data["ts"].isoformat(timespec="milliseconds").replace("+00:00", "Z")
        ordered = {k: log_data.pop(k) for k in LEADING if k in log_data}
        exc = log_data.pop("exc", None)
        ordered.update(log_data)
        if exc is not None:
            ordered["exc"] = exc
        return ordered


def logging_config(level: str = "INFO", fmt: LogFormat = "text") -> dict[str, Any]:
    """The ``dictConfig`` for ``level`` and ``fmt`` (see the module docstring)."""
    formatter = TextFormatter if fmt == "text" else JsonLineFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"reelstream": {"()": f"{__name__}.{formatter.__name__}"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "reelstream",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level.upper(), "handlers": ["stderr"]},
        "loggers": {
            **{
                name: {"handlers": [], "propagate": True, "level": level.upper()}
                for name in UVICORN_LOGGERS
            },
            # alembic names each of its plugins at INFO whenever it is imported
            QUIET: {"level": "WARNING"},
        },
    }


def configure_logging(level: str = "INFO", fmt: LogFormat = "text") -> dict[str, Any]:
    """Apply ``logging_config`` to this process; returns it (for uvicorn's ``log_config``)."""
    config = logging_config(level, fmt)
    logging.config.dictConfig(config)
    return config

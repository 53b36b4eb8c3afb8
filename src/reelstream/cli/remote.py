"""What the client commands (``upload``, ``videos``) share: the server and token options and
error text.

Expected failures (server down, a 4xx with a JSON reason) become ``click.ClickException`` with
a one-line message and a non-zero exit status, never a traceback.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, TypeVar

import click

DEFAULT_SERVER = "http://127.0.0.1:8000"
F = TypeVar("F", bound=Callable[..., Any])


def server_option(func: F) -> F:
    option = click.option(
        "--server",
        envvar="REELSTREAM_SERVER",
        default=DEFAULT_SERVER,
        show_default=True,
        callback=lambda _ctx, _param, value: str(value).rstrip("/"),
        help="Base URL of the reelstream server (env REELSTREAM_SERVER).",
    )
    return option(func)


def server_message(status: int | None, body: bytes | str | None) -> str:
    """The reason in a reelstream error body, or a short description of the response."""
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        message = data["error"].get("message")
        if message:
            return f"{message} (HTTP {status})" if status else str(message)
    snippet = " ".join(text.split())[:200]
    where = f"HTTP {status}" if status else "no response"
    return f"{where}: {snippet}" if snippet else where


def token_option(why: str) -> Callable[[F], F]:
    """The ``--token`` option; ``why`` says when this command needs one (each its own)."""

    def decorate(func: F) -> F:
        option = click.option(
            "--token",
            envvar="REELSTREAM_TOKEN",
            default=None,
            help=f"Personal access token rs_... (env REELSTREAM_TOKEN); {why}.",
        )
        return option(func)

    return decorate


def auth_headers(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token.strip()}"} if token else {}


class ServerError(click.ClickException):
    """The server answered with an error, or could not be reached."""

    def __init__(self, message: str) -> None:
        super().__init__(message)


def unreachable(server: str, exc: BaseException) -> ServerError:
    reason = str(exc) or type(exc).__name__
    return ServerError(f"cannot reach the reelstream server at {server}: {reason}")

"""The OpenAPI document, completed with what every API operation can answer.

Each route documents its own outcomes; the refusals any ``/api/`` operation can give before
its handler runs are added here once: 401 (an ``Authorization`` header that is not a live
token, or no credential where one is needed), 403 (the credential may not: scope, role, a
cookie request without its CSRF token) and 429 (a rate limit); and, where a JSON body is
taken, 400 (a body that cannot be read as JSON at all). The schemathesis run in
``tests/hostile`` holds the document to what the server answers.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

COMMON_API_ERRORS: dict[str, str] = {
    "401": "No valid credential: the Authorization header is not a live access token, or the "
    "operation needs a signed-in caller",
    "403": "The credential may not do this (token scope, role, or a missing CSRF token)",
    "429": "Rate limited; Retry-After says when to try again",
}
BODY_ERROR = "The body could not be read: not UTF-8, or JSON nested too deeply"
_ERROR_REF = {"$ref": "#/components/schemas/ErrorOut"}


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR_REF}}}


def complete(document: dict[str, Any]) -> dict[str, Any]:
    """Add the common refusals to every ``/api/`` operation that does not document them."""
    for path, operations in document.get("paths", {}).items():
        if not path.startswith("/api/"):
            continue
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for status, description in COMMON_API_ERRORS.items():
                responses.setdefault(status, _error_response(description))
            if "application/json" in operation.get("requestBody", {}).get("content", {}):
                responses.setdefault("400", _error_response(BODY_ERROR))
    return document


def install_openapi(app: FastAPI) -> None:
    """Serve the completed document at ``/openapi.json`` (built once, then cached)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                summary=app.summary,
                description=app.description,
                routes=app.routes,
            )
            app.openapi_schema = complete(document)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]

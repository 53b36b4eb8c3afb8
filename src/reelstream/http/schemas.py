"""The base of API bodies: response schemas read objects field by field (``from_attributes``,
so a domain object is presented without copying by hand), request bodies refuse unknown
fields; and the error body every 4xx/5xx response has."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Schema(BaseModel):
    """A response body: built from a dict or any object with the same attributes."""

    model_config = ConfigDict(from_attributes=True)


class RequestBody(BaseModel):
    """A request body: unknown fields are a 422, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class ErrorDetail(Schema):
    code: str = Field(description="Stable machine-readable error code")
    message: str = Field(description="What went wrong, in words a user understands")


class ErrorOut(Schema):
    """The body of every 4xx/5xx response."""

    error: ErrorDetail

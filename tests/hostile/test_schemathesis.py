"""schemathesis against ``/openapi.json`` of a real server: every operation, with schema-valid
and schema-invalid requests (a bounded number of examples each, derandomized so CI runs the
same requests every time), as a user with a ``write`` token.

It fails on any 5xx and on any response the document does not describe: an undocumented
status, content type or header, or a body that violates its schema. (Whether the server
accepts every schema-valid request is not asked: the document cannot say that a cursor must
be one the server issued, or that a webhook URL must be public.)

It drives hypothesis through schemathesis's Python API rather than its pytest plugin: one
test, every operation, and all failures reported together."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from reelstream.app import create_app
from tests.hostile.conftest import hostile_settings
from tests.support import bearer, create_account, run_server
from tests.videos.factories import create_video, publish_fake

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]

EXAMPLES = 25
"""Examples per operation and generation mode (about 40 operations: a minute on 2 cores)."""
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def test_the_api_answers_as_documented(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    # the caller and a published video, stored before the server starts on the same data
    with TestClient(create_app(hostile_settings(data_dir))) as client:
        token = create_account(client, "fuzzer")
        services = client.app.state.services  # type: ignore[attr-defined]
        assert client.portal is not None
        vid = client.portal.call(lambda: create_video(services, "fuzzed", owner="fuzzer"))
        client.portal.call(lambda: publish_fake(services, vid))

    with run_server(data_dir) as server:
        schema = schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")
        failures: dict[str, str] = {}
        calls = 0
        for result in schema.get_all_operations():
            operation = result.ok()  # type: ignore[union-attr]  # an Err raises here
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

                @given(case=operation.as_strategy(generation_mode=mode))
                @settings(
                    max_examples=EXAMPLES,
                    deadline=None,
                    database=None,
                    derandomize=True,
                    suppress_health_check=list(HealthCheck),
                )
                def call(case: Any) -> None:
                    nonlocal calls
                    calls += 1
                    case.call_and_validate(
                        base_url=server.base_url, headers=bearer(token), checks=CHECKS
                    )

                try:
                    call()
                except Unsatisfiable:
                    # nothing in the operation can be made schema-invalid (no parameters, or
                    # free-form strings): the negative mode has no request to send
                    assert mode is GenerationMode.NEGATIVE, operation.label
                except BaseException as exc:  # schemathesis reports a group of failures
                    if isinstance(exc, KeyboardInterrupt):
                        raise
                    failures[f"{operation.label} ({mode.value})"] = str(exc)[:3000]
        assert calls > 500, calls
        assert not failures, "\n\n".join(f"== {k}\n{v}" for k, v in failures.items())
        assert "Traceback" not in server.log(), server.log()

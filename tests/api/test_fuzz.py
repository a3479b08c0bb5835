"""A property-based fuzz run of the whole native API (schemathesis over the OpenAPI
document the server publishes): whatever the input, no 5xx.

Each operation gets a share of about 1500 generated requests (at least three), valid and
invalid, as an admin (so they reach the handlers, not only the authentication wall), on
SQLite: well under a minute in all. Endpoints that stream forever (server-sent events) are
left out.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode, openapi

from tests.api.conftest import LiveApi
from tests.api.test_engine_routes import CHARGE, REVIEW, deployed

STREAMING = {"/api/v1/events/stream"}
REQUESTS_IN_ALL = 1500  # about 40 s on a small machine


@pytest.mark.parametrize(
    "api_settings", [{"external_task_max_wait_ms": 100, "max_upload_bytes": 65_536}],
    indirect=True,
)
def test_no_input_makes_the_api_fail_with_a_5xx(sqlite_api: LiveApi) -> None:
    deployed(sqlite_api, ("review.bpmn", REVIEW), ("charge.bpmn", CHARGE))
    sqlite_api.services.engine.start("review_case", business_key="B-1")
    document = sqlite_api.admin().get("/api/v1/openapi.json").json()
    schema = openapi.from_dict(document)
    token = sqlite_api.token_for("admin")
    server_errors: list[str] = []
    operations = [
        result.ok() for result in schema.get_all_operations()
        if result.ok().path not in STREAMING
    ]
    assert len(operations) > 40
    examples = max(3, REQUESTS_IN_ALL // len(operations))
    for operation in operations:
        fuzz_operation(operation, sqlite_api.base_url, token, server_errors, examples)
    assert server_errors == []


def fuzz_operation(
    operation: Any, base_url: str, token: str, server_errors: list[str], examples: int = 6
) -> None:
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def fuzz(data: Any) -> None:
        mode = data.draw(st.sampled_from([GenerationMode.POSITIVE, GenerationMode.NEGATIVE]))
        case = data.draw(operation.as_strategy(generation_mode=mode))
        response = case.call(
            base_url=base_url,
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        if response.status_code >= 500:
            server_errors.append(
                f"{case.method} {case.formatted_path} -> {response.status_code}: "
                f"{response.text[:300]}"
            )
        assert "Traceback" not in response.text

    fuzz()

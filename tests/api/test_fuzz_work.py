"""The human-work endpoints (tasks, organisation, calendars, reports, seed 001's routes)
fuzzed from the OpenAPI document on SQLite and PostgreSQL: no input makes them fail with a
5xx (test_fuzz covers the whole API on SQLite)."""

from __future__ import annotations

from typing import Any, cast

from schemathesis import openapi

from tests.api.conftest import LiveApi
from tests.api.test_fuzz import fuzz_operation
from tests.api.test_tasks import setup, start

EXAMPLES = 12
PREFIXES = (
    "/api/v1/tasks", "/api/workflow/tasks", "/api/v1/departments", "/api/v1/users",
    "/api/v1/roles", "/api/v1/grants", "/api/v1/skills", "/api/v1/queues",
    "/api/v1/queue-assignments", "/api/v1/routing-rules", "/api/v1/calendars",
    "/api/v1/reports",
)


def test_no_input_makes_the_work_endpoints_fail_with_a_5xx(live_api: LiveApi) -> None:
    setup(live_api)
    start(live_api, business_key="B-1", variables={"amount": 10})
    live_api.admin()  # the admin user and role
    document = live_api.admin().get("/api/v1/openapi.json").json()
    schema = openapi.from_dict(document)
    token = live_api.token_for("admin")
    server_errors: list[str] = []
    checked = 0
    for result in schema.get_all_operations():
        operation = cast(Any, result).ok()  # an invalid operation raises here
        if not operation.path.startswith(PREFIXES):
            continue
        checked += 1
        fuzz_operation(operation, live_api.base_url, token, server_errors, EXAMPLES)
    assert checked > 50
    assert server_errors == [], "\n".join(server_errors)

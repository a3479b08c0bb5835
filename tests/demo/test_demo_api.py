"""The demo behind the HTTP API: ``load_demo(services)`` as ``caseflow serve --demo`` calls it,
then the development login as a case worker, a supervisor and an admin."""

from __future__ import annotations

from typing import Any

from caseflow.demo import load_demo
from tests.api.conftest import LiveApi, api_settings, sqlite_api

__all__ = ["api_settings", "sqlite_api"]  # fixtures used below


def _login(api: LiveApi, user_id: str) -> dict[str, Any]:
    answer = api.anonymous().post("/api/v1/auth/dev-login", json={"userId": user_id})
    assert answer.status_code == 200, answer.text
    user: dict[str, Any] = answer.json()["user"]
    return user


def test_serve_demo_offers_its_users_who_log_in_with_their_rights(sqlite_api: LiveApi) -> None:
    summary = load_demo(sqlite_api.services)  # what `caseflow serve --demo` does
    assert summary.cases_loaded
    config = sqlite_api.anonymous().get("/api/v1/auth/config").json()
    assert {"an.nguyen", "supervisor", "admin"} <= set(config["devUsers"])

    worker = _login(sqlite_api, "an.nguyen")
    assert worker["displayName"] == "Nguyễn Văn An"
    assert worker["queues"] == ["mot-cua"] and not worker["isOperator"]
    supervisor = _login(sqlite_api, "supervisor")
    assert supervisor["isOperator"] and not supervisor["isAdmin"]
    assert {"intake", "claims", "escalations", "mot-cua"} <= set(supervisor["queues"])
    admin = _login(sqlite_api, "admin")
    assert admin["isAdmin"]

    assert not load_demo(sqlite_api.services).changed  # the next start loads nothing

"""Business calendars and the reports over real HTTP, on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.api.conftest import LiveApi
from tests.api.test_skeleton import assert_problem
from tests.api.test_tasks import setup, start

OFFICE = ["08:00-12:00", "13:00-17:00"]
WEEK = dict.fromkeys(("mon", "tue", "wed", "thu", "fri"), OFFICE)


def test_calendars_overrides_and_due_dates(live_api: LiveApi) -> None:
    admin = live_api.admin()
    made = admin.post("/api/v1/calendars", json={
        "name": "office", "zone": "Asia/Ho_Chi_Minh", "weeklyHours": WEEK,
        "holidayCountry": "VN", "description": "HQ",
    })
    assert made.status_code == 201, made.text
    calendar = made.json()
    assert calendar["weeklyHours"]["mon"] == OFFICE
    assert "sat" not in calendar["weeklyHours"]
    cid = calendar["id"]
    assert_problem(admin.post("/api/v1/calendars", json={"name": "office", "weeklyHours": WEEK}),
                   409, "conflict")
    assert_problem(admin.post("/api/v1/calendars", json={
        "name": "bad", "zone": "Mars/Olympus", "weeklyHours": WEEK}), 422, "calendar_invalid")
    assert_problem(admin.post("/api/v1/calendars", json={
        "name": "bad", "weeklyHours": {"mon": ["25:00-26:00"]}}), 422, "calendar_invalid")
    assert_problem(admin.post("/api/v1/calendars", json={
        "name": "bad", "weeklyHours": {"funday": OFFICE}}), 422, "validation_failed")

    lan = live_api.client_as("lan")
    # Friday 2025-01-10 16:00 (+07): one working hour left, then Monday
    due = lan.post(f"/api/v1/calendars/{cid}/due-date",
                   json={"from": "2025-01-10T16:00:00+07:00", "hours": 3})
    assert due.status_code == 200, due.text
    assert due.json()["dueAt"].startswith("2025-01-13T03:00:00")  # Mon 10:00 +07
    days = lan.post(f"/api/v1/calendars/{cid}/due-date",
                    json={"from": "2025-01-10T09:00:00+07:00", "days": 1})
    assert days.json()["dueAt"].startswith("2025-01-13T10:00:00")  # Mon 17:00 +07
    # Monday made a holiday: a day later
    holiday = admin.put(f"/api/v1/calendars/{cid}/overrides/2025-01-13",
                        json={"kind": "HOLIDAY", "reason": "flood"})
    assert holiday.status_code == 200, holiday.text
    assert holiday.json()["createdBy"] == "admin"
    later = lan.post(f"/api/v1/calendars/{cid}/due-date",
                     json={"from": "2025-01-10T16:00:00+07:00", "hours": 3})
    assert later.json()["dueAt"].startswith("2025-01-14T03:00:00")
    overrides = lan.get(f"/api/v1/calendars/{cid}/overrides",
                        params={"from": "2025-01-01", "to": "2025-01-31"}).json()
    assert [(o["day"], o["kind"]) for o in overrides] == [("2025-01-13", "HOLIDAY")]
    assert_problem(admin.put(f"/api/v1/calendars/{cid}/overrides/2025-01-13",
                             json={"kind": "HOLIDAY", "hours": OFFICE}), 422, "calendar_invalid")
    assert_problem(admin.put(f"/api/v1/calendars/{cid}/overrides/not-a-day",
                             json={"kind": "HOLIDAY"}), 422, "validation_failed")
    assert admin.delete(f"/api/v1/calendars/{cid}/overrides/2025-01-13").status_code == 204
    assert_problem(admin.delete(f"/api/v1/calendars/{cid}/overrides/2025-01-13"), 404,
                   "not_found")
    # bad due-date requests
    assert_problem(lan.post(f"/api/v1/calendars/{cid}/due-date",
                            json={"from": "2025-01-10T16:00:00+07:00"}), 422,
                   "validation_failed")
    assert_problem(lan.post(f"/api/v1/calendars/{cid}/due-date",
                            json={"from": "2025-01-10T16:00:00", "hours": 1}), 422,
                   "validation_failed")
    assert_problem(lan.post("/api/v1/calendars/nope/due-date",
                            json={"from": "2025-01-10T16:00:00Z", "hours": 1}), 404, "not_found")
    # replace, read, list, delete; workers only read
    replaced = admin.put(f"/api/v1/calendars/{cid}", json={
        "name": "office", "weeklyHours": {**WEEK, "sat": ["08:00-11:30"]}})
    assert replaced.json()["weeklyHours"]["sat"] == ["08:00-11:30"]
    assert replaced.json()["createdAt"] == calendar["createdAt"]
    assert [c["name"] for c in lan.get("/api/v1/calendars").json()] == ["office"]
    assert lan.get(f"/api/v1/calendars/{cid}").json()["holidayCountry"] is None
    assert_problem(lan.post("/api/v1/calendars", json={"name": "x", "weeklyHours": WEEK}), 403,
                   "forbidden")
    assert_problem(lan.put(f"/api/v1/calendars/{cid}/overrides/2025-02-01",
                           json={"kind": "HOLIDAY"}), 403, "forbidden")
    assert_problem(lan.delete(f"/api/v1/calendars/{cid}"), 403, "forbidden")
    assert_problem(live_api.anonymous().get("/api/v1/calendars"), 401, "unauthenticated")
    assert admin.delete(f"/api/v1/calendars/{cid}").status_code == 204
    assert_problem(lan.get(f"/api/v1/calendars/{cid}"), 404, "not_found")
    assert_problem(admin.put(f"/api/v1/calendars/{cid}", json={"name": "o", "weeklyHours": WEEK}),
                   404, "not_found")


def test_reports(live_api: LiveApi) -> None:
    setup(live_api)
    work = live_api.services.work
    first = start(live_api)
    second = start(live_api)
    start(live_api, "legal_case")
    work.claim("lan", first)
    work.complete("lan", first, outcome="approve")
    work.escalate("sup", second, comment="late")
    operator = live_api.operator()
    queues = operator.get("/api/v1/reports/queues")
    assert queues.status_code == 200, queues.text
    by_queue = {q["queue"]: q for q in queues.json()}
    assert (by_queue["intake"]["escalated"], by_queue["legal"]["open"]) == (1, 1)
    # a worker sees the queues of their grants only
    assert [q["queue"] for q in live_api.client_as("lan").get("/api/v1/reports/queues").json()] \
        == ["intake"]
    workload = {u["userId"]: u for u in operator.get("/api/v1/reports/workload").json()}
    assert workload["lan"]["completed"] == 1
    [review] = [p for p in operator.get("/api/v1/reports/processes").json()
                if p["processKey"] == "review_case"]
    assert (review["started"], review["completed"]) == (2, 1)
    assert review["p95CompletionSeconds"] is not None
    assert operator.get("/api/v1/reports/sla").json() == []  # no task had a due date
    [today] = operator.get("/api/v1/reports/escalations", params={"bucket": "day"}).json()
    assert (today["escalations"], today["tasks"]) == (1, 1)
    window = operator.get("/api/v1/reports/escalations",
                          params={"from": "2020-01-01T00:00:00Z", "to": "2020-02-01T00:00:00Z"})
    assert window.json() == []
    for path in ("/workload", "/processes", "/sla", "/escalations"):
        assert_problem(live_api.client_as("lan").get(f"/api/v1/reports{path}"), 403, "forbidden")
        assert_problem(live_api.anonymous().get(f"/api/v1/reports{path}"), 401,
                       "unauthenticated")
    assert_problem(operator.get("/api/v1/reports/escalations", params={"bucket": "hour"}), 422,
                   "validation_failed")
    assert_problem(operator.get("/api/v1/reports/processes",
                                params={"from": "2030-01-01T00:00:00Z",
                                        "to": "2020-01-01T00:00:00Z"}), 422, "validation_failed")
    assert_problem(operator.get("/api/v1/reports/workload",
                                params={"from": "2020-01-01T00:00:00"}), 422,
                   "validation_failed")

"""The organisation over real HTTP, on SQLite and PostgreSQL: admins write, everyone reads,
and the refusals (401, 403, 404, 409, 422)."""

from __future__ import annotations

import datetime as dt

from caseflow.runtime.ports import TaskQuery
from tests.api.conftest import LiveApi
from tests.api.test_skeleton import assert_problem
from tests.api.test_tasks import LEGAL, REVIEW


def test_admins_build_the_organisation_and_workers_read_it(live_api: LiveApi) -> None:
    admin = live_api.admin()
    made = admin.post("/api/v1/departments", json={"code": "intake", "name": "Intake"})
    assert made.status_code == 201, made.text
    assert made.json()["code"] == "intake"
    sub = admin.post("/api/v1/departments",
                     json={"code": "registry", "name": "Registry", "parent": "intake"})
    assert sub.json()["parentId"] == made.json()["id"]
    assert_problem(admin.post("/api/v1/departments", json={"code": "intake", "name": "Again"}),
                   409, "conflict")
    assert_problem(admin.post("/api/v1/departments", json={"code": "x y", "name": "Bad"}), 422,
                   "validation_failed")
    assert_problem(admin.post("/api/v1/departments", json={"code": "x", "name": "X",
                                                           "parent": "nowhere"}),
                   404, "not_found")
    patched = admin.patch("/api/v1/departments/intake", json={"name": "Reception"})
    assert (patched.json()["name"], patched.json()["active"]) == ("Reception", True)
    assert_problem(admin.patch("/api/v1/departments/intake", json={"parent": "registry"}), 409,
                   "illegal_state")
    assert_problem(admin.patch("/api/v1/departments/intake", json={"name": None}), 422,
                   "validation_failed")

    queue = admin.post("/api/v1/queues", json={"name": "intake", "department": "intake",
                                               "maxCapacity": 10, "slaMinutes": 480})
    assert queue.status_code == 201, queue.text
    assert queue.json()["maxCapacity"] == 10
    assert_problem(admin.post("/api/v1/queues", json={"name": "q", "type": "FAST"}), 422,
                   "validation_failed")
    assert_problem(admin.post("/api/v1/queues", json={"name": "intake"}), 409, "conflict")
    assert admin.patch("/api/v1/queues/intake", json={"maxCapacity": 20}).json()[
        "maxCapacity"
    ] == 20
    role = admin.post("/api/v1/roles", json={"code": "clerks", "name": "Clerks",
                                             "type": "DEPARTMENT", "department": "intake",
                                             "queue": "intake"})
    assert role.status_code == 201, role.text
    admin.post("/api/v1/roles", json={"code": "supervisors", "name": "Sup", "canManage": True})
    assignment = admin.post("/api/v1/queue-assignments", json={
        "queue": "intake", "role": "supervisors", "strategy": "LEAST_LOADED",
    })
    assert assignment.status_code == 201, assignment.text
    assert assignment.json()["strategy"] == "LEAST_LOADED"
    assert_problem(admin.post("/api/v1/queue-assignments", json={
        "queue": "intake", "role": "supervisors", "strategy": "RANDOM"}), 422,
        "validation_failed")
    user = admin.post("/api/v1/users", json={"userId": "lan", "name": "Lan",
                                             "department": "intake", "experienceLevel": 2})
    assert user.status_code == 201, user.text
    assert_problem(admin.post("/api/v1/users", json={"userId": "lan", "name": "Lan"}), 409,
                   "conflict")
    assert_problem(admin.post("/api/v1/users", json={"userId": "x", "name": "X",
                                                     "experienceLevel": 9}), 422,
                   "validation_failed")
    grant = admin.post("/api/v1/grants", json={"userId": "lan", "role": "clerks",
                                               "primary": True})
    assert grant.status_code == 201, grant.text
    assert grant.json()["grantedBy"] == "admin"
    assert_problem(admin.post("/api/v1/grants", json={"userId": "ghost", "role": "clerks"}), 404,
                   "not_found")
    skill = admin.post("/api/v1/skills", json={"code": "tax", "name": "Tax"})
    assert skill.status_code == 201
    assert admin.put("/api/v1/users/lan/skills/tax", json={"level": 3}).status_code == 204
    assert_problem(admin.put("/api/v1/users/lan/skills/tax", json={"level": 6}), 422,
                   "validation_failed")
    rule = admin.post("/api/v1/routing-rules", json={"name": "big", "queue": "intake",
                                                     "condition": "${amount > 1000}"})
    assert rule.status_code == 201, rule.text
    assert_problem(admin.post("/api/v1/routing-rules", json={"name": "bad", "queue": "intake",
                                                             "condition": "${amount >"}),
                   422, "expression_syntax")

    # a worker reads everything public, writes nothing
    lan = live_api.client_as("lan")
    assert [d["code"] for d in lan.get("/api/v1/departments").json()] == ["intake", "registry"]
    assert [q["name"] for q in lan.get("/api/v1/queues").json()] == ["intake"]
    assert lan.get("/api/v1/users/lan").json()["experienceLevel"] == 2
    assert lan.get("/api/v1/users/lan/skills").json() == {"tax": 3}
    assert {r["code"] for r in lan.get("/api/v1/roles").json()} >= {"clerks", "supervisors"}
    assert [s["code"] for s in lan.get("/api/v1/skills").json()] == ["tax"]
    assert len(lan.get("/api/v1/queue-assignments", params={"queue": "intake"}).json()) == 1
    assert [r["name"] for r in lan.get("/api/v1/routing-rules").json()] == ["big"]
    assert [g["roleId"] for g in lan.get("/api/v1/users/lan/grants").json()] == [
        role.json()["id"]
    ]
    for method, path, body in (
        ("POST", "/api/v1/departments", {"code": "d", "name": "D"}),
        ("PATCH", "/api/v1/departments/intake", {"name": "Mine"}),
        ("DELETE", "/api/v1/departments/registry", None),
        ("POST", "/api/v1/users", {"userId": "u", "name": "U"}),
        ("POST", "/api/v1/users/lan/deactivate", {}),
        ("POST", "/api/v1/roles", {"code": "r", "name": "R"}),
        ("POST", "/api/v1/grants", {"userId": "lan", "role": "supervisors"}),
        ("DELETE", f"/api/v1/grants/{grant.json()['id']}", None),
        ("POST", "/api/v1/skills", {"code": "s", "name": "S"}),
        ("POST", "/api/v1/queues", {"name": "q"}),
        ("PATCH", "/api/v1/queues/intake", {"maxCapacity": 1}),
        ("POST", "/api/v1/queue-assignments", {"queue": "intake", "role": "clerks"}),
        ("POST", "/api/v1/routing-rules", {"name": "n", "queue": "intake"}),
        ("DELETE", f"/api/v1/routing-rules/{rule.json()['id']}", None),
    ):
        assert_problem(lan.request(method, path, json=body), 403, "forbidden")
        assert_problem(live_api.anonymous().request(method, path, json=body), 401,
                       "unauthenticated")
    assert_problem(live_api.client_as("binh").get("/api/v1/users/lan/grants"), 403, "forbidden")
    assert_problem(lan.get("/api/v1/departments/nowhere"), 404, "not_found")
    assert_problem(lan.get("/api/v1/queues/nowhere"), 404, "not_found")
    assert_problem(lan.get("/api/v1/users/ghost"), 404, "not_found")

    # revoking and deactivating
    assert admin.delete(f"/api/v1/grants/{grant.json()['id']}").status_code == 204
    assert lan.get("/api/v1/users/lan/grants").json() == []
    assert len(lan.get("/api/v1/users/lan/grants", params={"all": "true"}).json()) == 1
    assert_problem(admin.delete(f"/api/v1/grants/{grant.json()['id']}"), 409, "illegal_state")
    assert admin.delete(f"/api/v1/routing-rules/{rule.json()['id']}").status_code == 204
    assert lan.get("/api/v1/routing-rules").json() == []
    assert admin.delete("/api/v1/departments/registry").status_code == 204
    assert admin.get("/api/v1/departments/registry").json()["active"] is False


def test_deactivating_a_user_returns_their_tasks(live_api: LiveApi) -> None:
    from tests.api.test_tasks import setup, start

    setup(live_api)
    task_id = start(live_api)
    live_api.services.work.claim("lan", task_id)
    admin = live_api.admin()
    done = admin.post("/api/v1/users/lan/deactivate", json={"reason": "left"})
    assert done.status_code == 200, done.text
    assert done.json() == {"userId": "lan", "returnedTasks": [task_id]}
    assert live_api.services.engine.task(task_id).assignee is None
    assert_problem(live_api.client_as("lan").get("/api/v1/tasks"), 403, "user_inactive")
    assert_problem(admin.post("/api/v1/users/lan/deactivate"), 409, "illegal_state")
    assert admin.post("/api/v1/users/lan/activate").json()["active"] is True
    assert_problem(admin.post("/api/v1/users/ghost/deactivate"), 404, "not_found")
    patched = admin.patch("/api/v1/users/lan", json={"email": "lan@example.org",
                                                     "experienceLevel": 3})
    assert (patched.json()["email"], patched.json()["experienceLevel"]) == (
        "lan@example.org", 3
    )


def test_queue_statistics_by_grant(live_api: LiveApi) -> None:
    work = live_api.services.work
    engine = live_api.services.engine
    work.create_queue("intake", max_capacity=4)
    work.create_queue("legal")
    work.create_role("clerks", "Clerks", queue="intake")
    work.create_role("lawyers", "Lawyers", queue="legal")
    work.create_user("lan", "Lan")
    work.grant("lan", "clerks", by="admin")
    engine.deploy(REVIEW)
    engine.deploy(LEGAL)
    for _ in range(2):
        engine.start("review_case")
    engine.start("legal_case")
    [first, _] = engine.tasks(TaskQuery(process_key="review_case"))
    work.claim("lan", first.id)
    lan = live_api.client_as("lan")
    [intake] = lan.get("/api/v1/queues/stats").json()
    assert (intake["queue"], intake["open"], intake["claimed"], intake["load"]) == (
        "intake", 1, 1, 2
    )
    assert intake["utilisation"] == 0.5
    assert lan.get("/api/v1/queues/intake/stats").json()["load"] == 2
    assert_problem(lan.get("/api/v1/queues/legal/stats"), 403, "forbidden")
    assert_problem(lan.get("/api/v1/queues/nowhere/stats"), 404, "not_found")
    everything = live_api.operator().get("/api/v1/queues/stats").json()
    assert [q["queue"] for q in everything] == ["intake", "legal"]
    assert live_api.operator().get("/api/v1/queues/legal/stats").json()["open"] == 1
    assert_problem(live_api.anonymous().get("/api/v1/queues/stats"), 401, "unauthenticated")


def test_grant_validity_given_over_http(live_api: LiveApi) -> None:
    work = live_api.services.work
    work.create_queue("intake")
    work.create_role("clerks", "Clerks", queue="intake")
    work.create_user("lan", "Lan")
    admin = live_api.admin()
    now = live_api.services.clock.now()
    later = admin.post("/api/v1/grants", json={
        "userId": "lan", "role": "clerks",
        "validFrom": (now + dt.timedelta(days=1)).isoformat(),
    })
    assert later.status_code == 201, later.text
    assert live_api.client_as("lan").get("/api/v1/auth/me").json()["queues"] == []
    assert_problem(admin.post("/api/v1/grants", json={
        "userId": "lan", "role": "clerks", "validFrom": now.isoformat(),
        "validUntil": (now - dt.timedelta(days=1)).isoformat(),
    }), 422, "validation_failed")
    assert_problem(admin.post("/api/v1/grants", json={
        "userId": "lan", "role": "clerks", "validFrom": "2030-01-01T00:00:00",
    }), 422, "validation_failed")

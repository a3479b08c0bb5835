"""The web app in a real browser against ``caseflow serve --demo``: a case worker's journey
from deployment to a completed case, the monitoring and administration pages, keyboard use,
labels and axe-core, with a screenshot of each page for docs/screenshots/."""

from __future__ import annotations

import re
import urllib.error
import urllib.request
from typing import Any

import pytest

from tests.web.conftest import DATA, LiveServer
from tests.web.helpers import axe_violations, screenshot, sign_in

pytestmark = pytest.mark.xdist_group("browser")

PROCESS_KEY = "web_permit"
QUEUE = "web-e2e"


def _get(url: str) -> tuple[int, dict[str, str], bytes]:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: Any, **kwargs: Any) -> None:
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_the_server_serves_the_app_and_keeps_the_api_apart(live_server: LiveServer) -> None:
    status, headers, _ = _get(f"{live_server.url}/")
    assert status in (302, 307) and headers["location"] == "/app/tasks"

    status, headers, body = _get(f"{live_server.url}/app/tasks/some-task-id")
    assert status == 200 and b'<div id="app">' in body
    assert "script-src 'self'" in headers["content-security-policy"]
    assert headers["cache-control"] == "no-cache"

    script = re.search(rb'src="(/app/assets/[^"]+\.js)"', body)
    assert script is not None
    status, headers, _ = _get(live_server.url + script.group(1).decode())
    assert status == 200 and "immutable" in headers["cache-control"]

    for escape in ("/app/assets/..%2f..%2froutes.py", "/app/assets/%2e%2e/%2e%2e/routes.py"):
        assert _get(live_server.url + escape)[0] == 404
    status, headers, _ = _get(f"{live_server.url}/api/v1/no-such-thing")
    assert status == 404 and "json" in headers["content-type"]


def _prepare_queue(server: LiveServer) -> None:
    """A queue of the test's own, worked by the admin role, so claim-next finds our task
    (set up directly in the server's database, as the API tests do)."""
    from caseflow.runtime import ProcessEngine
    from caseflow.store import open_store
    from caseflow.work import WorkService

    store = open_store(server.database_url)
    try:
        work = WorkService(ProcessEngine(store))
        work.create_queue(QUEUE, description="Giấy phép biển hiệu (browser tests)")
        work.assign_queue(QUEUE, "ADMIN")
    finally:
        store.close()


def _current_step(page: Any) -> str:
    diagram = page.locator('.diagram[data-state="ready"]').first
    diagram.wait_for()
    return str(diagram.get_attribute("data-current"))


def test_a_case_goes_from_deployment_to_completion_in_the_browser(
    page: Any, live_server: LiveServer
) -> None:
    _prepare_queue(live_server)

    page.goto("/app/login")
    page.locator("button.user-choice").first.wait_for()
    screenshot(page, "login")
    assert axe_violations(page) == []
    sign_in(page, "admin")

    # Deploy the BPMN file and its form through the administration page.
    page.goto("/app/admin/deploy")
    page.get_by_label("Tệp BPMN / biểu mẫu").set_input_files(
        [str(DATA / "permit_review.bpmn"), str(DATA / "permit-review.form")]
    )
    page.get_by_role("button", name="Triển khai", exact=True).last.click()
    deployed = page.locator("[data-deployed]")
    deployed.wait_for()
    page.locator('.diagram[data-state="ready"]').wait_for()
    screenshot(page, "admin-deploy")
    assert axe_violations(page) == []

    # Start an instance from the definition's monitoring page.
    deployed.get_by_role("link").first.click()
    page.get_by_role("button", name="Khởi tạo hồ sơ").click()
    page.get_by_label("Mã nghiệp vụ").fill("GP-2026-0042")
    page.get_by_label("Biến (đối tượng JSON)").fill(
        '{"applicant": "Nguyễn Thị Hoà", "signboardArea": 2.5}'
    )
    page.get_by_role("button", name="Khởi tạo", exact=True).click()
    page.wait_for_url(re.compile(r"/app/monitoring/instances/"))
    assert _current_step(page) == "review"
    screenshot(page, "instance")
    assert axe_violations(page) == []

    # The dashboard counts the case as active, none completed yet.
    page.goto("/app/dashboards")
    row = page.locator(f'tr[data-process="{PROCESS_KEY}"]')
    row.wait_for()
    assert row.locator('[data-col="active"]').inner_text() == "1"
    assert row.locator('[data-col="completed"]').inner_text() == "0"

    # The task list, filtered to our queue; claim the next task.
    page.goto("/app/tasks")
    page.get_by_label("Hàng đợi").select_option(QUEUE)
    page.locator("tr[data-task-id]").first.wait_for()
    screenshot(page, "task-list-queue")
    assert axe_violations(page) == []
    page.get_by_role("button", name="Nhận việc tiếp theo").click()
    page.wait_for_url(re.compile(r"/app/tasks/[^/]+$"))

    # Complete the task through its form-js form with the "approve" outcome.
    page.locator('.task-form[data-ready="true"]').wait_for()
    assert _current_step(page) == "review"
    assert page.get_by_label(re.compile("Người nộp")).input_value() == "Nguyễn Thị Hoà"
    page.get_by_label(re.compile("Ý kiến thẩm định")).fill("Hồ sơ hợp lệ, đủ điều kiện cấp phép.")
    page.get_by_label("Ý kiến", exact=True).fill("Đã đối chiếu với bản vị trí lắp đặt.")
    page.get_by_role("button", name="Thêm ý kiến").click()
    page.locator(".timeline blockquote", has_text="Đã đối chiếu").wait_for()
    screenshot(page, "task")
    assert axe_violations(page) == []
    page.locator('button[data-outcome="approve"]').click()
    page.locator("[data-completed]").wait_for()
    page.wait_for_function("() => document.querySelector('.diagram')?.dataset.current === 'sign'")

    # The next step is in the queue: claim it, complete it, and the case is done.
    page.goto("/app/tasks")
    page.get_by_label("Hàng đợi").select_option(QUEUE)
    page.get_by_role("button", name="Nhận việc tiếp theo").click()
    page.wait_for_url(re.compile(r"/app/tasks/[^/]+$"))
    assert _current_step(page) == "sign"
    page.locator('.task-form[data-ready="true"]').wait_for()
    page.locator("button[data-outcome]").first.click()
    page.locator("[data-completed]").wait_for()

    page.goto("/app/dashboards")
    row = page.locator(f'tr[data-process="{PROCESS_KEY}"]')
    row.wait_for()
    page.wait_for_function(
        f"""() => document.querySelector('tr[data-process="{PROCESS_KEY}"] [data-col="completed"]')
               ?.textContent === '1'"""
    )
    assert row.locator('[data-col="active"]').inner_text() == "0"
    page.locator(".chart canvas").first.wait_for()
    screenshot(page, "dashboards")
    assert axe_violations(page) == []
    assert page.errors == []


def test_validation_errors_are_shown_against_the_diagram(
    page: Any, live_server: LiveServer
) -> None:
    sign_in(page, "admin")
    page.goto("/app/admin/deploy")
    page.get_by_label("Tệp BPMN / biểu mẫu").set_input_files(str(DATA / "broken_permit.bpmn"))
    page.get_by_role("button", name="Triển khai", exact=True).last.click()
    problems = page.locator(".problems li")
    problems.first.wait_for()
    assert problems.first.get_attribute("data-element-id") == "to_sign"
    assert "to_sign" in problems.first.inner_text()
    # the faulty flow is marked on the diagram of the uploaded file
    page.locator('.diagram [data-element-id="to_sign"].cf-problem').wait_for()
    screenshot(page, "admin-validation")
    assert axe_violations(page) == []


def test_monitoring_and_administration_pages(page: Any, live_server: LiveServer) -> None:
    sign_in(page, "admin")
    page.goto("/app/monitoring/definitions")
    page.locator("tr[data-definition-key]").first.wait_for()
    screenshot(page, "monitoring-definitions")
    assert axe_violations(page) == []

    # a demo definition with cases in flight: the diagram shows token counts per element
    page.locator('tr[data-definition-key="case_routing"] a').first.click()
    page.locator('.diagram[data-state="ready"]').wait_for()
    page.locator(".diagram .cf-badge-active").first.wait_for()
    screenshot(page, "monitoring-definition")
    assert axe_violations(page) == []

    page.goto("/app/monitoring/instances?status=ACTIVE")
    page.locator("tr[data-instance-id]").first.wait_for()
    screenshot(page, "monitoring-instances")
    assert axe_violations(page) == []
    page.locator("tr[data-instance-id] a").first.click()
    page.locator('.diagram[data-state="ready"]').wait_for()
    assert page.locator(".diagram .cf-current").count() >= 1
    page.get_by_role("button", name="Tạm dừng").click()
    page.get_by_label("Lý do").fill("Chờ bổ sung giấy tờ")
    page.locator("dialog").get_by_role("button", name="Tạm dừng").click()
    page.get_by_role("button", name="Tiếp tục").wait_for()
    page.get_by_role("button", name="Tiếp tục").click()
    page.locator("dialog").get_by_role("button", name="Tiếp tục").click()
    page.get_by_role("button", name="Tạm dừng").wait_for()

    for tab in ("departments", "users", "roles", "queues", "assignments", "calendars", "grants"):
        page.goto(f"/app/admin/{tab}")
        if tab == "grants":
            page.get_by_label("Mã người dùng").first.fill("dung.pham")
            page.get_by_role("button", name="Tìm kiếm").click()
        page.locator("table tbody tr td").first.wait_for()
        assert page.locator("table tbody td.empty").count() == 0, tab
        errors = page.locator("p.error").all_inner_texts()
        assert errors == [], (tab, errors)
        if tab in ("users", "queues"):
            screenshot(page, f"admin-{tab}")
        assert axe_violations(page) == [], tab
    # a definition's status: Deprecated, then Deployed again
    page.goto("/app/admin/definitions")
    status = page.get_by_label(re.compile(r"^Trạng thái của case_routing v1$"))
    status.select_option("Deprecated")
    page.wait_for_function(
        """() => [...document.querySelectorAll('.status')].some(
            e => e.textContent === 'Ngừng áp dụng')"""
    )
    status.select_option("Deployed")
    page.wait_for_function(
        """() => ![...document.querySelectorAll('.status')].some(
            e => e.textContent === 'Ngừng áp dụng')"""
    )

    page.goto("/app/admin/departments")
    page.get_by_label("Mã *").fill("WEB-TEST")
    page.get_by_label("Tên *").fill("Phòng Thử nghiệm Giao diện")
    page.get_by_role("button", name="Thêm", exact=True).click()
    page.get_by_role("cell", name="Phòng Thử nghiệm Giao diện").wait_for()
    assert page.errors == []


def test_the_task_list_works_from_the_keyboard_in_both_languages(
    page: Any, live_server: LiveServer
) -> None:
    sign_in(page, "an.nguyen")
    page.goto("/app/tasks")
    page.get_by_role("heading", name="Danh sách công việc").wait_for()
    page.locator("tr[data-task-id]").first.wait_for()
    screenshot(page, "task-list")

    # the first Tab reaches the skip link, which takes focus past the navigation
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"

    # every filter is labelled; tabbing reaches the first task, Enter opens it
    for label in ("Tìm kiếm", "Hàng đợi", "Mức ưu tiên", "Hạn xử lý", "Quy trình", "Mã hồ sơ"):
        assert page.get_by_label(label, exact=True).count() == 1, label
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('task-link')"):
            break
    else:
        pytest.fail("the keyboard never reached a task")
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/app/tasks/[^/]+$"))
    page.locator('.task-form[data-ready="true"]').wait_for()
    assert axe_violations(page) == []

    page.get_by_label("Ngôn ngữ").select_option("en")
    page.goto("/app/tasks")
    page.get_by_role("heading", name="Task list").wait_for()
    page.get_by_role("button", name="Claim next").wait_for()
    assert axe_violations(page) == []
    page.get_by_label("Language").select_option("vi")
    page.get_by_role("heading", name="Danh sách công việc").wait_for()
    assert page.errors == []

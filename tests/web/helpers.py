"""What the browser tests do again and again: sign in, screenshot a page, run axe-core."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import AXE, SCREENSHOTS


def sign_in(page: Any, user_id: str) -> None:
    """Dev-mode sign-in through the login page's user picker (or its free user-id field)."""
    page.goto("/app/login")
    page.locator(".dev-banner").first.wait_for()
    choice = page.locator(f'button.user-choice[data-user="{user_id}"]')
    if choice.count():
        choice.click()
    else:
        page.get_by_label("Hoặc mã người dùng khác").fill(user_id)
        page.get_by_role("button", name="Đăng nhập").click()
    page.locator(f'.who[data-user="{user_id}"]').wait_for()


def screenshot(page: Any, name: str) -> None:
    """The page as a person sees it at 1366x768, for docs/screenshots/ (linked from README)."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # not "networkidle": the live event stream keeps a request open
    page.wait_for_function(
        """() => !document.querySelector('[aria-busy="true"], .diagram[data-state="loading"]')
            && ![...document.querySelectorAll('p.muted')]
                .some(p => /Đang tải|Loading/.test(p.textContent))"""
    )
    page.wait_for_timeout(300)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"))


def axe_violations(page: Any, impacts: tuple[str, ...] = ("serious", "critical")) -> list[str]:
    """axe-core's violations of at least serious impact on the current page, described."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        # evaluated through the DevTools protocol: the page's own CSP does not apply
        page.evaluate(AXE.read_text(encoding="utf-8") + "\n;0")
    result = page.evaluate(
        """async () => {
            const r = await window.axe.run(document, {resultTypes: ["violations"]});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))}));
        }"""
    )
    return [
        f"{item['id']} ({item['impact']}): {item['help']} at {item['nodes']}"
        for item in result
        if item["impact"] in impacts
    ]

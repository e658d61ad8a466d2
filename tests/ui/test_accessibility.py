"""Accessibility of the pages people work in, checked with axe-core in
Chromium (axe-playwright-python): no serious or critical violation on the
dashboard, a release page (in flight and closed), the CAB review, the task
board and the reports page, at desktop and phone width. And the release page
on a phone: the next steps come before the 20 step tiles, and a keyboard user
skips the tiles with one key press."""
import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page, expect

from releases.scenario import Walker, new_release
from tests.helpers import browser_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}


@pytest.fixture
def releases(actors, cis):
    closed = Walker(new_release(actors, cis=cis[:1], title="Orders search"), actors)
    closed.to("closed")
    submitted = Walker(new_release(actors, cis=cis[1:], title="Orders DB patch"), actors)
    submitted.to("plan_submitted")
    scheduled = Walker(new_release(actors, title="Portal fixes"), actors)
    scheduled.to("scheduled")
    return {"closed": closed.release, "submitted": submitted.release, "scheduled": scheduled.release}


def serious(page: Page) -> list[str]:
    found = Axe().run(page).response["violations"]
    return [f"{page.url} {v['id']} ({v['impact']}): {v['help']} — "
            + "; ".join(n["target"][0] if isinstance(n["target"][0], str) else str(n["target"])
                        for n in v["nodes"][:5])
            for v in found if v["impact"] in ("serious", "critical")]


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_no_serious_axe_violation_on_the_working_pages(page: Page, live_server, actors, releases, viewport):
    page.set_viewport_size(viewport)
    pages = {
        "rm": ["/", f"/releases/{releases['scheduled'].pk}/", f"/releases/{releases['closed'].pk}/",
               f"/releases/{releases['submitted'].pk}/", "/tasks/", "/reports/"],
        "cab1": [f"/cab/{releases['submitted'].pk}/"],
    }
    problems = []
    for username, paths in pages.items():
        page.context.clear_cookies()
        browser_login(page, live_server.url, username)
        expect(page.get_by_role("heading", name="Log in")).to_have_count(0)
        for path in paths:
            response = page.goto(live_server.url + path)
            assert response.status == 200, path
            problems += serious(page)
    assert not problems, "\n".join(problems)


def test_on_a_phone_the_next_steps_come_before_the_step_tiles(page: Page, live_server, actors, releases,
                                                               screenshot_dir):
    release = releases["scheduled"]
    browser_login(page, live_server.url, "rm", next_path=f"/releases/{release.pk}/")
    expect(page.locator("h1")).to_contain_text(release.number)

    def top(selector):
        return page.locator(selector).bounding_box()["y"]

    page.set_viewport_size(DESKTOP)
    assert top("#process") < top("#next-steps")
    page.screenshot(path=str(screenshot_dir / "release-desktop.png"), full_page=True)
    page.set_viewport_size(PHONE)
    assert top("#next-steps") < top("#process")
    # What the next step needs is on the first screen (the tiles used to push it 955 px down).
    assert top("#next-steps #blockers") < PHONE["height"] / 2
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.screenshot(path=str(screenshot_dir / "release-phone.png"), full_page=True)
    page.screenshot(path=str(screenshot_dir / "release-phone-first-screen.png"))


def test_one_key_press_skips_the_step_tiles(page: Page, live_server, actors, releases):
    release = releases["scheduled"]
    browser_login(page, live_server.url, "rm", next_path=f"/releases/{release.pk}/")
    expect(page.locator("h1")).to_contain_text(release.number)
    skip = page.get_by_role("link", name="Skip past the 20 steps to the next steps")
    page.locator("#process").evaluate("e => e.previousElementSibling.querySelector('a, button')?.focus()")
    # Tab from the page head lands on the skip link before any tile.
    for _ in range(5):
        if page.evaluate("document.activeElement.classList.contains('skip-tracker')"):
            break
        page.keyboard.press("Tab")
    expect(skip).to_be_focused()
    expect(skip).to_be_visible()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    focused = page.evaluate("document.activeElement.closest('#next-steps') !== null")
    assert focused, "the Tab after the skip link is not in the next steps"

"""The calendar in a real browser: the filters are a form whose address is
the view (reload it, bookmark it, page through months with it), conflicts
and freezes read as words, and axe finds no serious or critical violation.
Leaves a screenshot of the month in tests/screenshots/calendar-month.png."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.utils import timezone
from playwright.sync_api import Page, expect

from releases.models import FreezeWindow, Release, ReleasePlan, ReleaseScopeItem, Task, Team
from tests.helpers import browser_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]
H = timedelta(hours=1)


def serious(page: Page) -> list[str]:
    """axe's serious and critical violations on the page, one line each."""
    results = Axe().run(page)
    return [f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
            for v in results.response["violations"] if v["impact"] in ("serious", "critical")]


@pytest.fixture
def world(actors, cis, make_user):
    rm = actors.release_manager
    rm.first_name, rm.last_name = "Rita", "Reyes"
    rm.save()
    other = make_user("release_manager", username="otherrm")
    ops = Team.objects.create(name="Ops")
    ops.members.add(rm)
    today = timezone.localtime().replace(hour=9, minute=0, second=0, microsecond=0)

    def release(title, manager=rm, state="scheduled", kind="minor", ci=None, start=today, hours=6):
        r = Release.objects.create(title=title, release_manager=manager, state=state, release_type=kind,
                                   planned_start=start, planned_end=start + hours * H)
        if ci is not None:
            ReleaseScopeItem.objects.create(release=r, ci=ci, target_version="9.9")
        ReleasePlan.objects.create(release=r, version=1, created_by=manager, created_in_state="planning",
                                   deployment_start=start + 2 * H, deployment_end=start + 3 * H)
        return r

    mine = release("Payments upgrade", ci=cis[0])
    release("Payments hotfix", manager=other, kind="emergency", ci=cis[0], start=today + H / 2)
    theirs = release("HR portal refresh", manager=other, kind="major", ci=cis[1], start=today + 2 * 24 * H)
    release("Old closed release", state="closed", start=today - 24 * H)
    Task.objects.create(release=theirs, title="Smoke test the portal", assignee_team=ops,
                        planned_start=theirs.planned_start, planned_end=theirs.planned_start + H)
    Task.objects.create(release=mine, title="Back up the ledger", assignee_user=rm,
                        planned_start=mine.planned_start, planned_end=mine.planned_start + H)
    FreezeWindow.objects.create(name="Quarter close", start=today + 4 * 24 * H, end=today + 5 * 24 * H,
                                reason="Finance closes the books")
    return {"rm": rm, "mine": mine, "theirs": theirs}


def test_the_calendar_filters_in_the_browser(page: Page, live_server, world, screenshot_dir):
    browser_login(page, live_server.url, "rm", next_path="/calendar/")
    expect(page.get_by_role("heading", name="Release calendar")).to_be_visible()
    grid = page.locator(".calendar")
    expect(grid).to_contain_text("Payments upgrade")
    expect(grid).to_contain_text("HR portal refresh")
    expect(grid).not_to_contain_text("Old closed release")
    # The conflict and the freeze are words on the page, not only colours.
    expect(grid.locator(".mark-conflict").first).to_have_text("Conflict")
    expect(page.locator(".agenda")).to_contain_text(f"Conflict: REL-")
    expect(grid.locator(".cal-freeze").first).to_have_text("Freeze")
    expect(page.locator("#cal-showing")).to_contain_text("releases still to happen")
    page.screenshot(path=str(screenshot_dir / "calendar-month.png"), full_page=True)
    assert serious(page) == []

    # Mine: the releases Rita manages or has tasks in.
    page.get_by_label("Mine").check()
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"[?&]mine=on"))
    expect(grid).to_contain_text("Payments upgrade")
    expect(grid).not_to_contain_text("HR portal refresh")
    expect(grid).not_to_contain_text("Payments hotfix")
    # The address is the view: reloaded, and through the next month and back, it keeps the filter.
    page.reload()
    expect(page.get_by_label("Mine")).to_be_checked()
    page.get_by_label(re.compile("^Next")).click()
    expect(page).to_have_url(re.compile(r"mine=1"))
    page.get_by_label(re.compile("^Previous")).click()
    expect(page.locator(".calendar")).not_to_contain_text("HR portal refresh")

    # My teams and a release type, then finished releases too.
    page.get_by_label("Mine").uncheck()
    page.get_by_label("My teams").check()
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(".calendar")).to_contain_text("HR portal refresh")
    expect(page.locator(".calendar")).not_to_contain_text("Payments upgrade")
    page.get_by_label("My teams").uncheck()
    page.get_by_label("Release type").select_option("emergency")
    page.get_by_label("Include finished").check()
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(".calendar")).to_contain_text("Payments hotfix")
    expect(page.locator(".calendar")).not_to_contain_text("Payments upgrade")
    page.get_by_label("Release type").select_option("")
    page.get_by_label("Configuration item").fill(world["mine"].scope_items.get().ci.name)
    page.get_by_role("button", name="Apply").click()
    expect(page.locator(".calendar")).to_contain_text("Payments upgrade")
    expect(page.locator(".calendar")).not_to_contain_text("HR portal refresh")
    assert serious(page) == []

    # The week view of the filtered calendar, and its day list.
    page.get_by_role("link", name="Week", exact=True).click()
    expect(page).to_have_url(re.compile(r"view=week.*ci="))
    assert serious(page) == []
    page.get_by_role("link", name="Today", exact=True).click()
    page.get_by_role("link", name="Day", exact=True).click()
    expect(page.locator(".cal-day")).to_contain_text("Payments upgrade")
    assert serious(page) == []

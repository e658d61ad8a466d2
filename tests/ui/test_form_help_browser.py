"""Forms that help, in the browser: after a refused form the error summary
has focus and its link moves focus to the field; a date outside the release
window and an unknown CI are told as they are typed (htmx, no page load);
"fix →" opens the task it is about, below the sticky header.
One live server, one release."""
from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from releases import services as s
from releases.scenario import Walker, new_release
from tests.helpers import browser_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def test_forms_help_as_they_are_filled(page: Page, live_server, actors, cis):
    release = Walker(new_release(actors, cis=cis, title="Order search 2.0"), actors).to("plan_approved")
    early = s.task_create(release_id=release.pk, by=actors.release_manager, title="Warm caches", step=12,
                          assignee_user=actors.deployment_team,
                          planned_start=release.planned_start - timedelta(days=3),
                          planned_end=release.planned_start - timedelta(days=2))
    browser_login(page, live_server.url, "rm")
    base = f"{live_server.url}/releases/{release.pk}/"

    # A refused form: the summary has focus, its link takes focus to the field.
    page.goto(base + "tasks/")
    page.get_by_role("button", name="Save task").click()
    summary = page.locator("[data-error-summary]")
    expect(summary).to_be_focused()
    expect(summary).to_have_attribute("role", "alert")
    summary.get_by_role("link", name="Title: This field is required.").click()
    expect(page.locator("#id_task-title")).to_be_focused()

    # A date before the window is told as it is typed, without a page load.
    before = release.planned_start - timedelta(days=1)
    page.locator("#id_task-planned_start").fill(f"{before:%Y-%m-%dT%H:%M}")
    expect(page.locator("#task-checks")).to_contain_text("outside the release window")
    inside = release.planned_start + timedelta(hours=2)
    page.locator("#id_task-planned_start").fill(f"{inside:%Y-%m-%dT%H:%M}")
    expect(page.locator("#task-checks")).to_be_empty()

    # A CI the CMDB does not hold, in the scope form of the release page.
    page.goto(base)
    page.locator("#scope summary").click()
    page.locator("#id_scope-ci").press_sequentially("billing-service")
    expect(page.locator("#scope-checks")).to_contain_text("The CMDB holds no configuration item named")

    # "fix →" opens the task's row, not hidden under the sticky header.
    page.locator(f"#blockers li[data-code='task_outside_window'] a.fix").first.click()
    expect(page).to_have_url(f"{base}#task-{early.pk}")
    row_top = page.locator(f"#task-{early.pk}").evaluate("e => e.getBoundingClientRect().top")
    header_bottom = page.locator(".topbar").evaluate("e => e.getBoundingClientRect().bottom")
    assert row_top >= header_bottom

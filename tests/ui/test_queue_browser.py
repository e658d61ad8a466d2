"""Each role starts from the dashboard: "Waiting on you" leads the page,
counted, and its item's link lands on the form that does the work.

One live server and one world: a release waiting on each role (each with a
CI of its own, so their windows never conflict), an RFC to assess, a vendor's
task; then every role logs in, in turn, and does in the browser what a
person does. The dashboards of three roles are left in
tests/screenshots/queue-<role>.png.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from changes.services import rfc_create
from cmdb.models import ConfigurationItem
from releases import services as s
from releases.scenario import Walker, new_release
from tests.helpers import browser_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _walk(actors, role, state, *, vendor=None):
    ci = ConfigurationItem.objects.create(name=f"svc-{role}", ci_type="application", version="1.0")
    walker = Walker(new_release(actors, cis=[ci], title=f"Order search for {role}"), actors)
    if vendor is None:
        walker.to(state)
        return walker.release
    release = walker.to("plan_approved")
    s.task_create(release_id=release.pk, by=actors.release_manager, title="Patch the load balancer",
                  assignee_vendor=vendor, planned_start=release.planned_start + timedelta(hours=4),
                  planned_end=release.planned_end - timedelta(hours=4))
    return walker.to(state)  # scheduled: its activities may start


# role -> (who logs in, the state of the release waiting on them (None: the RFC), the action's words,
# the form it lands on).
CASES = {
    "release_manager": ("rm", "new", "Start planning", "#next-steps form.transition[data-transition='start_planning']"),
    "change_manager": ("cm", None, "Assess", "#next-steps form.transition[data-transition='assess']"),
    "cab_member": ("cab1", "plan_submitted", "Vote on plan v1", "#vote form.vote-form"),
    "configuration_manager": ("confman", "packaging", "Capture the pre-release baseline", "#baselines form button"),
    "build_team": ("builder", "building", "Complete build", "#next-steps [data-transition='complete_build']"),
    "test_team": ("tester", "testing", "Record the test result", "form.record-form[data-record='test_results']"),
    "delivery_manager": ("dm", "ready", "Decide Go or No-Go", "#next-steps [data-transition='approve_go']"),
    "deployment_team": ("deployer", "scheduled", "Task: Deploy to production",
                        "form.transition[data-task-transition='start']"),
    "vendor": ("acme", "scheduled", "Task: Patch the load balancer", "form.transition[data-task-transition='start']"),
}
SHOTS = ("release_manager", "cab_member", "test_team")


def test_every_role_s_queue_leads_from_the_dashboard_to_the_form(page: Page, live_server, actors, make_user,
                                                                 make_vendor, screenshot_dir):
    vendor = make_vendor("Acme appliances")
    vendor.users.add(make_user("vendor", username="acme"))
    make_user("stakeholder", username="watcher")
    rfc_create(by=actors.requester, title="Cache orders", description="Faster.")
    for role, (_, state, _, _) in CASES.items():
        if state is not None:
            _walk(actors, role, state, vendor=vendor if role == "vendor" else None)

    for role, (username, state, action, form) in CASES.items():
        browser_login(page, live_server.url, username)
        queue = page.locator("#work-queue")
        expect(queue.get_by_role("heading", name=re.compile("^Waiting on you"))).to_be_visible()
        # It leads the page: nothing comes before it in the grid.
        assert page.locator(".dash-grid > section").first.get_attribute("id") == "work-queue", role
        expect(queue.locator("h2 .count")).not_to_have_text("0")
        if role in SHOTS:
            page.screenshot(path=str(screenshot_dir / f"queue-{role}.png"), full_page=True)
        subject = "Cache orders" if state is None else f"Order search for {role}"
        queue.locator("a.row-link", has_text=action).filter(has_text=subject).first.click()
        target = page.locator(form).first
        expect(target).to_be_visible()
        # The form is in view, not under the sticky header.
        assert target.evaluate("e => e.getBoundingClientRect().bottom > 0"), role
        page.context.clear_cookies()

    # A stakeholder is told, not asked: nothing waits on them.
    browser_login(page, live_server.url, "watcher")
    expect(page.locator("#work-queue")).to_contain_text("Nothing waits on you.")

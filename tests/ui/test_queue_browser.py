"""Each role starts from the dashboard: "Waiting on you" leads the page,
counted, and its item's link lands on the form that does the work.

Each test builds only the release its role needs (a Walker through the
services), then everything the person does is in the browser. The tests
leave screenshots of the dashboards in tests/screenshots/queue-<role>.png.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import Page, expect

from changes.services import rfc_create
from releases import services as s
from releases.scenario import Walker, new_release
from tests.helpers import browser_login

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _walk(actors, cis, state):
    walker = Walker(new_release(actors, cis=cis, title="Order search 2.0"), actors)
    walker.to(state)
    return walker.release


def _vendor_task(actors, cis, make_user, make_vendor):
    walker = Walker(new_release(actors, cis=cis, title="Order search 2.0"), actors)
    release = walker.to("plan_approved")
    vendor = make_vendor("Acme appliances")
    user = make_user("vendor", username="acme")
    vendor.users.add(user)
    s.task_create(release_id=release.pk, by=actors.release_manager, title="Patch the load balancer",
                  assignee_vendor=vendor, planned_start=release.planned_start + timedelta(hours=4),
                  planned_end=release.planned_end - timedelta(hours=4))
    walker.to("scheduled")  # its activities may start
    return user


# role -> (how its work comes about, who logs in, the action's words, the form it lands on)
CASES = {
    "release_manager": (lambda a, c, *_: _walk(a, c, "new"), "rm", "Start planning",
                        "#next-steps form.transition[data-transition='start_planning']"),
    "change_manager": (lambda a, c, *_: rfc_create(by=a.requester, title="Cache orders", description="Faster."),
                       "cm", "Assess", "#next-steps form.transition[data-transition='assess']"),
    "cab_member": (lambda a, c, *_: _walk(a, c, "plan_submitted"), "cab1", "Vote on plan v1",
                   "#vote form.vote-form"),
    "configuration_manager": (lambda a, c, *_: _walk(a, c, "packaging"), "confman",
                              "Capture the pre-release baseline", "#baselines form button"),
    "build_team": (lambda a, c, *_: _walk(a, c, "building"), "builder", "Complete build",
                   "#next-steps [data-transition='complete_build']"),
    "test_team": (lambda a, c, *_: _walk(a, c, "testing"), "tester", "Record the test result",
                  "form.record-form[data-record='test_results']"),
    "delivery_manager": (lambda a, c, *_: _walk(a, c, "ready"), "dm", "Decide Go or No-Go",
                         "#next-steps [data-transition='approve_go']"),
    "deployment_team": (lambda a, c, *_: _walk(a, c, "scheduled"), "deployer", "Task: Deploy to production",
                        "form.transition[data-task-transition='start']"),
    "vendor": (_vendor_task, "acme", "Task: Patch the load balancer",
               "form.transition[data-task-transition='start']"),
}


@pytest.mark.parametrize("role", sorted(CASES))
def test_the_queue_item_leads_from_the_dashboard_to_the_form(role, page: Page, live_server, actors, cis, make_user,
                                                              make_vendor, screenshot_dir):
    make, username, action, form = CASES[role]
    make(actors, cis, make_user, make_vendor)
    browser_login(page, live_server.url, username)
    queue = page.locator("#work-queue")
    expect(queue.get_by_role("heading", name=re.compile("^Waiting on you"))).to_be_visible()
    # It leads the page: nothing comes before it in the grid.
    assert page.locator(".dash-grid > section").first.get_attribute("id") == "work-queue"
    expect(queue.locator("h2 .count")).not_to_have_text("0")
    if role in ("cab_member", "test_team", "configuration_manager"):
        page.screenshot(path=str(screenshot_dir / f"queue-{role}.png"), full_page=True)
    queue.locator("a.row-link", has_text=action).first.click()
    target = page.locator(form).first
    expect(target).to_be_visible()
    # The form is in view, not under the sticky header.
    assert target.evaluate("e => e.getBoundingClientRect().bottom > 0")

"""The reports page: a panel per metric with an SVG chart, its numbers in a
table and a CSV link; filters; who may see it; nothing a strict
Content-Security-Policy would block. In a real browser, the page as the
demo data shows it (screenshot in tests/screenshots/reports.png)."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.urls import reverse
from django.utils import timezone

from releases.models import Release, TransitionLog
from tests.helpers import browser_login, html
from tests.test_metrics import PERIOD, build_world

METRICS = ("deployment-frequency", "change-failure-rate", "time-to-restore", "lead-time", "cab-cycle-time",
           "on-time", "go-no-go", "tasks", "time-in-step")


def section(page: str, panel_id: str) -> str:
    match = re.search(rf'<section[^>]*id="{panel_id}".*?</section>', page, re.S)
    assert match, panel_id
    return match.group(0)


def cells(fragment: str) -> list[tuple[str, str]]:
    return [(re.sub(r"<[^>]+>", "", h).strip(), v.strip())
            for h, v in re.findall(r"<tr><th scope=\"row\">(.*?)</th><td>(.*?)</td>", fragment, re.S)]


@pytest.mark.django_db
def test_every_metric_has_a_chart_its_numbers_and_a_csv_link(login, make_user):
    world = build_world(make_user("release_manager"))
    response = login(make_user("stakeholder")).get(reverse("releases:reports"), PERIOD)
    assert response.status_code == 200
    page = html(response)
    for panel_id in METRICS:
        panel = section(page, panel_id)
        assert '<svg class="chart"' in panel and "<title id=" in panel and "<desc id=" in panel, panel_id
        assert '<table class="table compact">' in panel
        metric = panel_id.replace("-", "_")
        assert f'href="/api/metrics/{metric}.csv?from=2026-03-02&amp;to=2026-03-29"' in panel
    assert ("Rate", "50 %") in cells(section(page, "change-failure-rate"))
    assert ("Median", "1 h") in cells(section(page, "time-to-restore"))
    assert ("90th percentile", "1.4 h") in cells(section(page, "time-to-restore"))
    assert ("Median", "6.1 d") in cells(section(page, "lead-time"))  # 147.5 h
    assert ("Week of 09 Mar 2026", "2") in cells(section(page, "deployment-frequency"))
    assert ("Overdue at the end of the period", "2") in cells(section(page, "tasks"))
    steps = section(page, "time-in-step")
    assert "2 · Plan approved" in steps and "Emergency" in steps and "100 %" in steps
    # filters narrow the panels, and the CSV link carries them
    minor = html(login(world.user).get(reverse("releases:reports"), {**PERIOD, "type": "minor"}))
    assert ("Deployments", "2") in cells(section(minor, "change-failure-rate"))
    assert "/api/metrics/go_no_go.csv?from=2026-03-02&amp;to=2026-03-29&amp;type=minor" in minor


@pytest.mark.django_db
def test_the_page_needs_no_inline_script_or_style(login, make_user):
    build_world(make_user("release_manager"))
    page = html(login(make_user("change_manager")).get(reverse("releases:reports"), PERIOD))
    # Scripts are files from static (htmx, the forms' focus), never inline.
    assert not re.search(r"<script(?![^>]*\ssrc=\"/static/)", page)
    assert not re.search(r"\sstyle=", page)
    assert not re.search(r"\son[a-z]+=", page)
    assert "/static/css/reports.css" in page


@pytest.mark.django_db
def test_invalid_filters_are_shown_in_place(login, make_user):
    response = login(make_user("stakeholder")).get(reverse("releases:reports"), {"from": "2026-03-10",
                                                                               "to": "2026-03-01", "type": "x"})
    assert response.status_code == 400
    page = html(response)
    assert "The start of the period must be before its end." in page
    assert "Select a valid choice" in page
    assert "<svg" not in page


@pytest.mark.django_db
def test_who_sees_the_reports(client, login, make_user):
    url = reverse("releases:reports")
    assert client.get(url).status_code == 302  # to the login page
    assert login(make_user("vendor")).get(url).status_code == 403
    page = html(login(make_user("deployment_team")).get(url))
    assert 'href="/reports/" aria-current="page">Reports</a>' in page


# --- in a real browser -------------------------------------------------------------------------


def _spread_over_weeks(now, backdate_history):
    """seed_demo walks its releases through the services, so everything
    happens within seconds; spread each release's history back over the
    last weeks (keeping the order and the gaps' proportions) so the weekly
    chart and the durations look like a real quarter."""
    with backdate_history():
        _spread(now)


def _spread(now):
    ct = ContentType.objects.get_for_model(Release)
    for i, release in enumerate(Release.objects.order_by("pk")):
        logs = list(TransitionLog.objects.filter(content_type=ct, object_id=release.pk).order_by("at", "id"))
        start = now - timedelta(days=70 - 6 * (i % 11), hours=3 * i)
        at = start
        for j, log in enumerate(logs):
            at += timedelta(hours=[5, 30, 14, 52, 8, 26, 3, 70, 2, 11][(i + j) % 10])
            log.at = at
            log.save(update_fields=["at"])
        if logs:  # the RFCs were raised a few days before the release
            release.rfcs.update(created_at=logs[0].at - timedelta(days=3 + i % 5))
        started = next((log.at for log in logs if log.name == "start_deployment"), None)
        done = next((log.at for log in logs if log.name == "complete_deployment"), None)
        if started:
            release.deployments.update(started_at=started, completed_at=done)
            # every third deployment overran its window
            end = (done or started) + timedelta(hours=-1 if i % 3 == 0 else 2)
            release.plans.update(deployment_start=started - timedelta(hours=1), deployment_end=end)


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_reports_page_in_the_browser(page, live_server, screenshot_dir, backdate_history):
    from django.core.management import call_command
    from playwright.sync_api import expect

    # The role groups come from a data migration, which an earlier
    # transactional test may have truncated away: seed_demo expects them.
    from django.contrib.auth.models import Group

    from releasemgmt.workflow import ROLES

    for role in ROLES:
        Group.objects.get_or_create(name=role)
    call_command("seed_demo", verbosity=0)
    _spread_over_weeks(timezone.now(), backdate_history)
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.get(username="release_manager")
    user.set_password("pw-test-12345")
    user.save()

    violations = []  # what the Content-Security-Policy blocked, as the browser reports it
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    browser_login(page, live_server.url, "release_manager")
    page.get_by_role("link", name="Reports", exact=True).click()
    expect(page.get_by_role("heading", name="How the release process performs")).to_be_visible()
    expect(page.locator("#deployment-frequency svg.chart")).to_be_visible()
    expect(page.get_by_role("img", name="Releases deployed per week")).to_be_visible()
    # the CSV link downloads the figures the panel shows
    with page.expect_download() as download:
        page.locator("#change-failure-rate").get_by_role("link", name=re.compile("^CSV")).click()
    assert download.value.suggested_filename.startswith("change_failure_rate_")
    page.screenshot(path=str(screenshot_dir / "reports.png"), full_page=True)
    assert not violations, violations

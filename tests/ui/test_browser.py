"""The UI in a real browser (Debian's Chromium through Playwright) against
the live server: a release manager and CAB members take a release from
creation through the CAB vote, scheduling and on to closing, using only the
browser; a wrong role sees no forbidden button and gets 403 if it posts.

Users, CIs and RFCs are set up in the database; every release action is a
click in the browser. The tests leave screenshots of the dashboard, the
release page and the CAB review page in tests/screenshots/.
"""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import Locator, Page, expect

from releases.models import Release, Team
from releases.scenario import Walker, authorised_rfc, new_release
from tests.helpers import browser_login, grant
from tests.signatures import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def local(dt) -> str:
    """A date-time as a datetime-local input takes it (the server runs in UTC)."""
    return timezone.localtime(dt).strftime("%Y-%m-%dT%H:%M")


# What a person's click is: a press of a button or link, a box ticked or
# cleared, an option chosen. Typing is not counted.
CLICKS = ("click", "dblclick", "tap", "check", "uncheck", "set_checked", "select_option")
# The headings of the error pages (templates/4xx.html, 500.html) and the browser's own.
ERROR_PAGE = re.compile("Not allowed|Not found|Bad request|Server error|Method not allowed|Confirm Form Resubmission",
                        re.I)


@pytest.fixture
def clicks(monkeypatch):
    """Every click made through Playwright's locators in this test, counted
    (the login page's button too); a box already as wanted costs none."""
    count = {"n": 0}

    def counted(name, original):
        def wrapper(self, *args, **kwargs):
            if name in ("check", "uncheck", "set_checked"):
                wanted = args[0] if name == "set_checked" else name == "check"
                if self.is_checked() == bool(wanted):
                    return original(self, *args, **kwargs)
            count["n"] += 1
            return original(self, *args, **kwargs)
        return wrapper

    for name in CLICKS:
        monkeypatch.setattr(Locator, name, counted(name, getattr(Locator, name)))
    return count


class Browser:
    """What a person does on the pages: log in, press buttons, fill forms.
    After every form sent the page is reloaded, as a person might: it must
    not become an error page (a POST-only address, a form sent again)."""

    def __init__(self, page: Page, base: str):
        self.page = page
        self.base = base
        self.reload_errors = []

    def reload(self):
        response = self.page.reload()
        heading = self.page.locator("h1").first.inner_text() if self.page.locator("h1").count() else ""
        if response is None or response.status >= 400 or ERROR_PAGE.search(heading):
            self.reload_errors.append(f"{self.page.url}: {response and response.status} {heading}")

    def login(self, username):
        browser_login(self.page, self.base, username)
        expect(self.page.get_by_role("heading", name=re.compile("^Hello"))).to_be_visible()
        self.reload()

    def logout(self):
        self.page.get_by_role("button", name="Log out").click()
        expect(self.page.get_by_role("heading", name="Log in")).to_be_visible()
        self.reload()

    def ok(self, text="", reload=True):
        expect(self.page.locator(".msg-success").first).to_contain_text(text)
        if reload:
            self.reload()

    def state(self, label):
        expect(self.page.locator(".page-head .meta .badge").first).to_have_text(label)

    def open_release(self, release):
        self.page.get_by_role("link", name="Releases", exact=True).click()
        self.page.locator("#release-table").get_by_role("link", name=re.compile(release.number)).click()
        expect(self.page.locator("h1")).to_contain_text(release.number)

    def fill(self, form, prefix, fields):
        for name, value in fields.items():
            field = form.locator(f"[name='{prefix}{name}']")
            if field.count() > 1:  # radio buttons
                form.locator(f"[name='{prefix}{name}'][value='{value}']").check()
                continue
            kind = field.evaluate("e => e.tagName.toLowerCase() + ':' + (e.type || '')")
            if kind == "input:checkbox":
                field.set_checked(bool(value))
            elif kind.startswith("select"):
                values = field.locator("option").evaluate_all("os => os.map(o => o.value)")
                if str(value) in values:
                    field.select_option(value=str(value))
                else:
                    field.select_option(label=str(value))
            else:
                field.fill(str(value))

    def step(self, name, **fields):
        """Press a transition's button on the release page, filling its form."""
        form = self.page.locator(f"#next-steps form.transition[data-transition='{name}']")
        expect(form).to_be_visible()
        self.fill(form, f"{name}-", fields)
        form.locator("button[type=submit]").click()
        self.ok()

    def unfold(self, details):
        if details.get_attribute("open") is None:
            details.locator("> summary").click()

    def record(self, record_type, then=None, **fields):
        """Add a step record through its section's form (in place); ``then``:
        the step saving it also takes ("Save and submit the plan")."""
        section = self.page.locator(f"#rec-{record_type}")
        self.unfold(self.page.locator("details.step-records", has=section))
        form = section.locator("form.record-form")
        if form.count() == 0:  # a record the current step does not ask for is added on its own page
            section.locator("a.add-record-link").click()
            form = self.page.locator(f"form.record-form[data-record='{record_type}']")
        self.fill(form, f"{record_type}-", fields)
        if then:
            form.locator(f"button[data-then='{then}']").click()
        else:
            form.locator("button[type=submit]").first.click()
        self.ok("recorded")

    def task(self, title, action):
        row = self.page.locator("#tasks tr", has_text=title)
        row.locator(f"form[data-task-transition='{action}'] button").click()
        self.ok(title)

    def plan_task(self, then=None, **fields):
        form = self.page.locator("form[data-form=task]")
        if form.count() == 0:  # planned on its own page after step 3
            self.page.locator("#tasks a.add-record-link").click()
        self.fill(form, "task-", fields)
        form.locator(f"button[data-then='{then}']" if then else "button[type=submit]").first.click()
        self.ok("planned")

    def shot(self, directory, name, full_page=True):
        self.page.evaluate("window.scrollTo(0, 0)")  # the sticky header belongs at the top
        self.page.screenshot(path=str(directory / f"{name}.png"), full_page=full_page)


@pytest.fixture
def world(actors, cis):
    """What exists before the release: people with roles, a team, the CMDB, an authorised RFC."""
    for user, (first, last) in zip(
        [actors.release_manager, *actors.cab_members, actors.change_manager, actors.delivery_manager,
         actors.requester],
        [("Rita", "Reyes"), ("Aisha", "Khan"), ("Bruno", "Keller"), ("Chloe", "Lund"), ("Carlos", "Mendes"),
         ("Diana", "Moreau"), ("Rafael", "Quint")]):
        user.first_name, user.last_name = first, last
        user.save()
    team = Team.objects.create(name="Deployment team")
    team.members.add(actors.deployment_team)
    rfc = authorised_rfc(actors, "Faster order search")
    return {"actors": actors, "cis": cis, "rfc": rfc, "team": team}


def test_a_release_from_creation_to_closing_in_the_browser(page: Page, live_server, world, screenshot_dir, clicks):
    actors, rfc, cis = world["actors"], world["rfc"], world["cis"]
    b = Browser(page, live_server.url)
    now = timezone.now().replace(second=0, microsecond=0)
    start, end = now - timedelta(hours=2), now + timedelta(days=10)

    # Step 1: the release manager raises the ticket, tagged to the RFC.
    b.login("rm")
    page.get_by_role("link", name="Raise a release").click()
    page.get_by_label("Title").fill("Order search 2.0")
    page.get_by_label("Type").select_option("minor")
    page.locator("label", has_text=rfc.number).locator("input").check()
    page.get_by_label("Planned start").fill(local(start))
    page.get_by_label("Planned end").fill(local(end))
    page.get_by_role("button", name="Raise release").click()
    b.ok("raised")
    release = Release.objects.get(title="Order search 2.0")
    assert list(release.rfcs.all()) == [rfc]
    b.state("New")

    # Step 2: plan, scope, submit to the CAB.
    b.step("start_planning")
    b.state("Planning")
    expect(page.locator("#blockers [data-transition='submit_plan']")).to_contain_text("No release plan")
    scope = page.locator("#scope")
    b.unfold(scope.locator("details.add-record"))
    scope.get_by_label("Configuration item").fill(cis[0].name)
    scope.get_by_label("Target version").fill("3.0")
    scope.get_by_role("button", name="Save scope").click()
    b.ok("in scope")
    b.record("plans", scope="Order search service and its index.", deployment_start=local(now - timedelta(hours=1)),
             deployment_end=local(now + timedelta(days=9)), deployment_approach="Rolling, one node at a time.",
             risks="Search slower while the index warms up.", teams="Build, test and deployment teams.")
    # The second version completes the step: saved and submitted in one action.
    b.record("plans", then="submit_plan",
             risks="Search slower while the index warms up; mitigated by a pre-warmed replica.",
             deployment_approach="Rolling, one node at a time, behind a feature flag.")
    b.state("Plan submitted to CAB")
    b.logout()

    # The CAB: two members vote, with their password; the second approves the plan.
    for i, cab in enumerate(actors.cab_members[:2]):
        b.login(cab.username)
        queue = page.locator("#work-queue")  # the vote waits on them
        expect(queue).to_contain_text(release.number)
        if i == 0:
            b.shot(screenshot_dir, "dashboard")
        queue.get_by_role("link", name=re.compile(release.number)).click()
        expect(page.locator("#plan")).to_contain_text("Release plan version 2")
        expect(page.locator("#plan ins").first).to_be_visible()
        expect(page.locator("#votes")).to_contain_text(f"{i} of 2 approve votes")
        if i == 1:
            b.shot(screenshot_dir, "cab-review")
        vote = page.locator("form.vote-form")
        vote.get_by_label("Approve", exact=True).check()
        vote.get_by_label("Comment").fill("Risks understood; the replica covers them.")
        vote.get_by_label("Your password").fill("not my password")
        vote.get_by_role("button", name="Cast vote").click()
        expect(page.locator("#id_vote-password_error")).to_contain_text("not your password")
        b.reload()
        vote.get_by_label("Approve", exact=True).check()
        vote.get_by_label("Your password").fill(PASSWORD)
        vote.get_by_role("button", name="Cast vote").click()
        if i == 1:
            # The vote that reaches the quorum approves the plan in the same signed action.
            b.ok("the plan is approved", reload=False)
        b.ok("vote")
        expect(page.locator("#votes")).to_contain_text(f"{i + 1} of 2 approve votes")
        if i == 1:
            b.state("Plan approved")
        b.logout()

    # Step 3: activities, test cases, schedule.
    b.login("rm")
    page.locator("#my-releases").get_by_role("link", name=re.compile(release.number)).click()
    b.plan_task(title="Assemble search packages", step="4", assignee_user=str(actors.build_team.pk),
                planned_start=local(now), planned_end=local(now + timedelta(days=2)))
    # The second activity completes step 3: planned and scheduled in one action.
    b.plan_task(then="schedule", title="Roll out search nodes", step="12", assignee_team="Deployment team",
                planned_start=local(now), planned_end=local(now + timedelta(days=8)))
    b.state("Scheduled")

    # Steps 4 and 5: packaging, build, the restore point.
    b.step("start_packaging")
    expect(page.locator("#blockers [data-transition='start_build']")).to_contain_text("is not done")
    b.task("Assemble search packages", "start")
    b.task("Assemble search packages", "complete")
    b.step("start_build")
    page.get_by_role("button", name="Capture the pre-release baseline").click()
    b.ok("restore point")
    b.record("build_documents", build_install_test_plans="make release; install.sh", monitoring_qa="Dashboards.",
             deployment_procedures="Ansible deploy.yml", rollback_procedures="Redeploy 2.3.",
             remediation_steps="Page on-call.")
    b.record("security_checks", passed=True, notes="Dependency scan clean.")
    b.record("test_cases", name="Search returns orders by customer", mandatory=True)
    b.shot(screenshot_dir, "release-page-building")
    b.record("prerequisite_checks", then="complete_build", description="Index storage provisioned", verified=True)
    b.state("Built")

    # Steps 6 and 7: testing and the test decision.
    b.step("start_testing")
    b.record("test_results", then="pass_tests", test_case="Search returns orders by customer", outcome="passed")
    b.state("Tests passed")

    # Step 8: plans revised after testing, the rollback plan, pre-implementation checks.
    b.record("plans", notes="Revised after testing: no change to the window.")
    b.record("rollback_plans", content="Restore the pre-release baseline; redeploy 2.3.", verification="tested")
    b.record("pre_implementation_checks", then="update_plans", description="Change window confirmed with the business",
             passed=True)

    # Step 9: environments, acceptance criteria on the ticket, stakeholders told.
    b.record("environment_readiness", environment="production", ready=True)
    b.record("communications", kind="stakeholder_notice", rfc_requesters=True, subject="Order search 2.0 is coming")
    acceptance = page.locator("form[data-form=acceptance]")
    acceptance.get_by_label("Acceptance criteria").fill("Search p95 under 300 ms for one hour.")
    acceptance.locator("button[data-then='prepare']").click()
    b.ok("acceptance criteria")
    b.state("Ready")

    # Step 10: readiness assessed; the delivery manager says Go, with a password.
    b.record("readiness_assessments", risks="Low; rollback tested.", recommendation="Go.")
    expect(page.locator("#blockers [data-transition='approve_go']")).to_contain_text("Only a delivery manager")
    b.logout()
    b.login("dm")
    expect(page.locator("#work-queue")).to_contain_text(release.number)  # the Go decision waits on them
    page.locator("#work-queue").get_by_role("link", name=re.compile(release.number)).click()
    # The password input is named "password" in every signing form (masked by the lock-out's records).
    page.locator("#next-steps form.transition[data-transition='approve_go']").get_by_label("Your password") \
        .fill(PASSWORD)
    b.step("approve_go")
    b.state("Go")
    b.logout()

    # Steps 11 to 13: backup, deployment, health check.
    b.login("rm")
    page.locator("#my-releases").get_by_role("link", name=re.compile(release.number)).click()
    b.record("backups", then="record_backup", what="Search index and configuration", location="backup vault",
             verified=True)
    b.step("start_deployment")
    b.state("Deploying")
    b.task("Roll out search nodes", "start")
    b.task("Roll out search nodes", "complete")
    b.step("complete_deployment")
    b.record("health_checks", then="verify_deployment", passed=True, details="All endpoints answer; p95 210 ms.")
    b.state("Verified")
    b.logout()

    # Steps 14 to 16: Change Management evaluates, reviews and accepts.
    b.login("cm")
    b.open_release(release)
    b.record("evaluations", then="evaluate", summary="Objectives met.", meets_objectives=True)
    b.step("start_review")
    b.record("reviews", then="accept", outcome="success", findings="No incidents.")
    b.state("Succeeded")
    b.logout()

    # Steps 19 and 20: closure comments on the RFC; close (the CMDB is updated).
    b.login("rm")
    page.locator("#my-releases").get_by_role("link", name=re.compile(release.number)).click()
    b.record("closure_comments", then="close", rfc=str(rfc), comment="Delivered with Order search 2.0.")
    b.state("Closed")
    statuses = page.locator("ol.steps li").evaluate_all("els => els.map(e => e.dataset.status)")
    assert statuses == ["done"] * 16 + ["skipped", "skipped", "done", "done"]
    b.shot(screenshot_dir, "release-page")
    page.set_viewport_size({"width": 390, "height": 844})
    b.shot(screenshot_dir, "release-page-phone", full_page=False)

    release.refresh_from_db()
    rfc.refresh_from_db()
    cis[0].refresh_from_db()
    assert release.state == "closed" and rfc.state == "closed"
    assert cis[0].version == "3.0"
    assert release.approved_plan.version == 2
    print(f"clicks from raising to closing: {clicks['n']}")
    assert not b.reload_errors, "reloading a page reached by a form:\n" + "\n".join(b.reload_errors)
    assert clicks["n"] <= 90


def test_a_wrong_role_sees_no_button_and_gets_403(page: Page, live_server, world, screenshot_dir):
    actors = world["actors"]
    release = new_release(actors, cis=world["cis"], title="Not yours")
    Walker(release, actors).to("planning")
    Walker(release, actors).plan()
    b = Browser(page, live_server.url)

    b.login(actors.cab_members[0].username)
    b.open_release(release)
    expect(page.locator("#next-steps form.transition")).to_have_count(0)
    expect(page.locator("form[data-transition='submit_plan']")).to_have_count(0)
    expect(page.locator("#blockers [data-transition='submit_plan']")).to_contain_text(
        "Only a release manager may perform “Submit plan to CAB”.")
    expect(page.locator("form.record-form")).to_have_count(0)  # CAB members write no plan
    expect(page.get_by_role("link", name="Edit ticket")).to_have_count(0)

    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    for path, data in ((f"/releases/{release.pk}/transitions/submit_plan/", {}),
                       (f"/releases/{release.pk}/transitions/cancel/", {"cancel-reason": "mine now"}),
                       (f"/releases/{release.pk}/records/plans/", {"plans-scope": "hijacked"}),
                       ("/releases/new/", {"title": "x", "release_type": "minor"})):
        response = page.request.post(live_server.url + path, form={"csrfmiddlewaretoken": token, **data},
                                     max_redirects=0)
        assert response.status == 403, path
    page.goto(live_server.url + f"/releases/{release.pk}/edit/")
    expect(page.get_by_role("heading", name="Not allowed")).to_be_visible()
    release.refresh_from_db()
    assert release.state == "planning" and release.plans.count() == 1

    # The release manager, on the same page, has the button.
    b.logout()
    b.login("rm")
    b.open_release(release)
    expect(page.locator("#next-steps form.transition[data-transition='submit_plan']")).to_have_count(1)


def test_phone_sized_dashboard_and_menu(page: Page, live_server, world, screenshot_dir):
    actors = world["actors"]
    Walker(new_release(actors, cis=world["cis"], title="Phone check"), actors).to("scheduled")
    page.set_viewport_size({"width": 390, "height": 844})
    b = Browser(page, live_server.url)
    b.login("rm")
    expect(page.get_by_role("link", name="Releases", exact=True)).to_be_hidden()
    page.locator("label.nav-toggle-label").click()
    expect(page.get_by_role("link", name="Releases", exact=True)).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the dashboard scrolls sideways on a phone ({width}px)"
    b.shot(screenshot_dir, "dashboard-phone", full_page=False)
    page.get_by_role("link", name="Calendar", exact=True).click()
    expect(page.locator(".agenda")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


@pytest.mark.parametrize("width", [1280, 1366, 1920])
def test_the_menu_holds_on_one_line_for_a_role_with_every_link(page: Page, live_server, world, screenshot_dir,
                                                                width):
    """A release manager who is also change manager and admin has the most links; from 1280 px
    up they, the name and "Log out" share one line; below, the menu folds behind its button."""
    rm = world["actors"].release_manager
    grant(rm, "change_manager", "cab_member")
    rm.is_staff = True
    rm.save()
    page.set_viewport_size({"width": width, "height": 800})
    Browser(page, live_server.url).login("rm")
    first, last = page.get_by_role("link", name="Dashboard", exact=True), page.get_by_role("button", name="Log out")
    expect(page.get_by_role("link", name="Audit", exact=True)).to_be_visible()
    top, bottom = first.bounding_box(), last.bounding_box()
    assert abs((top["y"] + top["height"] / 2) - (bottom["y"] + bottom["height"] / 2)) < 12, (top, bottom)
    assert page.locator(".topbar").bounding_box()["height"] <= 60
    if width == 1366:
        Browser(page, live_server.url).shot(screenshot_dir, "menu-1366", full_page=False)


def test_the_menu_folds_below_laptop_width(page: Page, live_server, world):
    page.set_viewport_size({"width": 1200, "height": 800})
    Browser(page, live_server.url).login("rm")
    expect(page.get_by_role("link", name="Releases", exact=True)).to_be_hidden()
    page.locator("label.nav-toggle-label").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()

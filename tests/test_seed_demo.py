from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.test import RequestFactory

from changes.models import ChangeRequest
from cmdb.models import ConfigurationItem
from releases.models import Release, Task, Team, TransitionLog, Vendor

ROLE_USERS = {
    "release_manager": "release_manager",
    "change_manager": "change_manager",
    "cab_member": "cab_member",
    "cab_member2": "cab_member",
    "delivery_manager": "delivery_manager",
    "build_team": "build_team",
    "test_team": "test_team",
    "deployment_team": "deployment_team",
    "configuration_manager": "configuration_manager",
    "vendor": "vendor",
    "stakeholder": "stakeholder",
    "requester": "stakeholder",
}



def login_request():
    # Login throttling (django-axes) needs the request to authenticate.
    return RequestFactory().post("/accounts/login/")


EXPECTED_STATES = {"new", "plan_submitted", "scheduled", "testing", "ready", "deployed", "closed", "rolled_back",
                   "cancelled"}


def _counts():
    return {
        "users": get_user_model().objects.count(),
        "releases": Release.objects.count(),
        "cis": ConfigurationItem.objects.count(),
        "rfcs": ChangeRequest.objects.count(),
        "teams": Team.objects.count(),
        "vendors": Vendor.objects.count(),
        "tasks": Task.objects.count(),
        "transitions": TransitionLog.objects.count(),
    }


@pytest.fixture
def seeded():
    # The cheap hasher (tests/conftest.py): the command's behaviour, not PBKDF2's cost, is under test.
    first = StringIO()
    call_command("seed_demo", stdout=first)
    before = _counts()
    second = StringIO()
    call_command("seed_demo", stdout=second)
    return {"first": first.getvalue(), "second": second.getvalue(), "before": before, "after": _counts()}


@pytest.mark.django_db
def test_seed_demo_loads_the_demo_and_a_second_run_changes_nothing(seeded):
    # Idempotent: the second run creates nothing.
    assert seeded["after"] == seeded["before"]
    assert "created nothing" in seeded["second"]
    assert "password demo-pass-2026" in seeded["first"]

    # Users: one per role, in the role's group, able to log in; only the administrator is staff.
    User = get_user_model()
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    assert authenticate(login_request(), username="admin", password="demo-pass-2026") == admin
    for username, group in ROLE_USERS.items():
        user = User.objects.get(username=username)
        assert user.groups.filter(name=group).exists(), username
        assert user.email == f"{username}@example.com"
        assert user.first_name and user.last_name
        assert authenticate(login_request(), username=username, password="demo-pass-2026") == user, username
    assert set(User.objects.filter(is_staff=True).values_list("username", flat=True)) == {"admin"}

    # Teams and the vendor's queue.
    assert Team.objects.get(name="Build team").members.filter(username="build_team").exists()
    vendor = Vendor.objects.get(name="Acme Hosting")
    assert vendor.users.filter(username="vendor").exists()
    vendor_task = Task.objects.get(assignee_vendor=vendor)
    assert vendor_task.release.state == "scheduled"

    # CMDB with dependencies.
    web = ConfigurationItem.objects.get(name="web-portal")
    assert {"orders-api", "payments-api", "auth-service"} <= set(web.depends_on.values_list("name", flat=True))
    assert ConfigurationItem.objects.get(name="orders-api").depends_on.filter(name="orders-db").exists()
    assert ConfigurationItem.objects.filter(owner__isnull=False).count() == ConfigurationItem.objects.count()

    # RFCs: some authorised, one still submitted.
    assert ChangeRequest.objects.filter(state="submitted").exists()
    assert ChangeRequest.objects.filter(state="authorized").exists()
    assert not ChangeRequest.objects.filter(requester__groups__name="cab_member").exists()

    # Releases standing at the expected steps.
    states = set(Release.objects.values_list("state", flat=True))
    assert EXPECTED_STATES <= states, EXPECTED_STATES - states
    closed = Release.objects.filter(state="closed")
    assert {"major", "emergency"} <= set(closed.values_list("release_type", flat=True))

    # At least one closed release went through a rollback.
    ct = ContentType.objects.get_for_model(Release)
    rolled_back_ids = set(
        TransitionLog.objects.filter(content_type=ct, name="complete_rollback").values_list("object_id", flat=True)
    )
    assert rolled_back_ids & set(closed.values_list("pk", flat=True))
    assert TransitionLog.objects.filter(content_type=ct, name="cancel", object_id__in=Release.objects.filter(
        state="cancelled").values("pk")).exclude(reason="").exists()


@pytest.mark.django_db
def test_demo_users_made_staff_by_an_older_demo_are_not_staff_after_seeding(django_user_model):
    from releases.management.commands.seed_demo import Command

    django_user_model.objects.create_user("cab_member", email="cab_member@example.com", is_staff=True)
    command = Command(stdout=StringIO())
    command.created = {"users": 0}
    users = command._users()
    assert not django_user_model.objects.get(username="cab_member").is_staff
    assert users["admin"].is_staff and users["admin"].is_superuser


@pytest.mark.django_db
def test_the_demo_has_a_past_the_reports_show(seeded, client):
    """The releases were raised over the last months and each step took part
    of its target duration, a few overrunning it: the reports have durations
    to show, not "0 min" everywhere."""
    from datetime import timedelta

    from django.utils import timezone

    from reports.metrics import Filters, compute
    from reports.models import Stay

    now = timezone.now()
    raised = Release.objects.values_list("created_at", flat=True)
    assert now - min(raised) > timedelta(days=120)
    # Nothing happened in the future.
    assert not TransitionLog.objects.filter(at__gt=now).exists()
    # Release numbers follow the order the releases were raised.
    by_time = list(Release.objects.order_by("created_at").values_list("pk", flat=True))
    assert by_time == sorted(by_time)

    left = Stay.objects.filter(left__isnull=False)
    assert left.filter(hours__gt=0).count() > left.count() * 0.8
    figures = compute(Filters(start=now - timedelta(days=200), end=now))
    assert figures["deployment_frequency"]["deployed"] >= 6
    assert figures["change_failure_rate"]["failed"] >= 1
    assert figures["lead_time"]["median_hours"] > 24 * 7
    steps = figures["time_in_step"]
    assert {row["release_type"] for row in steps} == {"major", "minor", "emergency"}
    assert all(row["median_hours"] > 0 for row in steps)
    # Mostly on target, a few late.
    over = sum(row["over_target"] for row in steps)
    assert 0 < over < sum(row["count"] for row in steps) / 4
    # In flight: one still stands in its step past the target.
    assert Stay.objects.filter(left__isnull=True, state="testing", entered__lt=now - timedelta(days=5)).exists()

    client.force_login(get_user_model().objects.get(username="release_manager"))
    page = client.get("/reports/?from=" + (now - timedelta(days=200)).date().isoformat())
    assert page.status_code == 200
    assert b"0 min" not in page.content

"""One seeded world per test module, for the schema-driven API checks
(Schemathesis and the role x endpoint matrix): a user per role with a token,
CIs, RFCs, releases standing at different steps with their records, tasks
(one assigned to a vendor) and captured baselines, all made through the
services and ``releases.scenario.Walker``.

It is built once per module inside an outer transaction that is rolled back
when the module ends; each test runs in a savepoint inside it, so whatever a
test writes is undone before the next one.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import tempfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.utils import timezone
from rest_framework.authtoken.models import Token

from changes.services import problem_create_from_release, rfc_create
from cmdb.models import Baseline
from evidence.services import attach
from releasemgmt.workflow import ROLES
from releases import services as s
from releases.models import RECORD_TYPES, FreezeWindow, Task, Team, Vendor
from releases.scenario import Walker, new_release
from releases.standard_changes import standard_change_approve
from releases.template_services import template_create
from tests.helpers import built_once, create_user, make_actors, make_cis
from webhooks.services import subscription_create

H = timedelta(hours=1)


@dataclass
class World:
    users: dict  # role -> user
    tokens: dict  # role -> token key
    ids: dict = field(default_factory=dict)  # what a path parameter may name, by kind
    records: dict = field(default_factory=dict)  # record type -> (release id, record id)


def build_world() -> World:
    assert set(ROLES) >= {"release_manager", "vendor", "stakeholder"}
    # Requests use tokens; the password signs the walk's decisions.
    actors = make_actors(create_user)
    vendor_user = create_user("acme-user", "vendor")
    acme = Vendor.objects.create(name="Acme")
    acme.users.add(vendor_user)
    users = {
        "release_manager": actors.release_manager, "change_manager": actors.change_manager,
        "cab_member": actors.cab_members[2], "delivery_manager": actors.delivery_manager,
        "build_team": actors.build_team, "test_team": actors.test_team, "deployment_team": actors.deployment_team,
        "configuration_manager": actors.configuration_manager, "vendor": vendor_user,
        # A stakeholder who requested nothing: the requester may edit their own RFCs.
        "stakeholder": create_user("stakeholder", "stakeholder"),
    }
    tokens = {role: Token.objects.create(user=user).key for role, user in users.items()}

    cis = make_cis()

    def vendor_task(release):
        return s.task_create(release_id=release.pk, by=actors.release_manager, title="Acme gateway", step=12,
                             assignee_vendor=acme, planned_start=release.planned_start + 3 * H,
                             planned_end=release.planned_end - 3 * H)

    # The far one: scope, baseline, most step records; the vendor works on it.
    far = Walker(new_release(actors, title="Checkout 2.4", cis=cis), actors)
    far.to("verified")
    far_vendor_task = vendor_task(far.release)
    scheduled = Walker(new_release(actors, title="Search revamp"), actors)
    scheduled.to("scheduled")
    vendor_task(scheduled.release)
    submitted = Walker(new_release(actors, title="Billing fix", release_type="emergency"), actors)
    submitted.to("plan_submitted")
    fresh = new_release(actors, title="Reporting")
    template = template_create(by=actors.release_manager, name="Monthly minor", release_type="minor",
                               scope="Monthly fixes.", rollback_plan="Redeploy the previous version.",
                               tasks=[{"title": "Deploy", "step": 12, "offset_start": 2 * H, "offset_end": 4 * H}],
                               test_cases=[{"name": "Smoke"}])
    failed = Walker(new_release(actors, title="Payments 3.0", cis=cis), actors)
    failed.to("rolled_back", rollback_from="deployed")
    problem = problem_create_from_release(release_id=failed.release.pk, by=actors.change_manager)
    submitted_rfc = rfc_create(by=actors.requester, title="Dark mode", description="Offer a dark theme.")
    team = Team.objects.create(name="Platform team")
    # Far ahead: it blocks none of the walks above.
    freeze = FreezeWindow.objects.create(name="Year-end freeze", start=timezone.now() + 300 * 24 * H,
                                         end=timezone.now() + 314 * 24 * H)
    standard = standard_change_approve(by=actors.change_manager, template=template, cis=cis,
                                       signature=actors.signature())

    # A test report on the far release's first test result (its release manager attaches it).
    evidence = attach(record_type="test_results", record_id=far.release.test_results.order_by("id").first().pk,
                      by=actors.release_manager, upload=SimpleUploadedFile("staging-run.txt", b"2 passed\n"))
    webhook, _secret = subscription_create(by=actors.release_manager, url="https://hooks.example.com/releases",
                                           event_types=["release.closed"])

    world = World(users=users, tokens=tokens)
    world.ids = {
        "release": [fresh.pk, submitted.release.pk, scheduled.release.pk, far.release.pk],
        "rfc": [submitted_rfc.pk, *far.release.rfcs.values_list("pk", flat=True)],
        "task": [far_vendor_task.pk, *Task.objects.exclude(pk=far_vendor_task.pk).values_list("pk", flat=True)],
        "ci": [c.pk for c in cis],
        "baseline": list(Baseline.objects.values_list("pk", flat=True)),
        "user": [u.pk for u in users.values()],
        "vendor": [acme.pk],
        # Named objects the role matrix acts on.
        "far": far.release.pk, "new": fresh.pk, "plan_submitted": submitted.release.pk,
        "submitted_rfc": submitted_rfc.pk, "vendor_task": far_vendor_task.pk, "planned_ci": None,
        "template": [template.pk], "problem": [problem.pk], "team": [team.pk], "freeze": [freeze.pk],
        "evidence": [evidence.pk],
        "webhook": [webhook.pk],
        "standard_change": [standard.pk],
    }
    for record_type, model in RECORD_TYPES.items():
        record = model.objects.filter(release=far.release).order_by("id").first() or \
            model.objects.order_by("id").first()
        if record is not None:
            world.records[record_type] = (record.release_id, record.pk)
    return world


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """The seeded world, shared by the tests of one module and rolled back after it.

    Requests go through the WSGI handler in this thread and this connection;
    Django closes "old" connections at the start and end of each request,
    which would end the open transaction, so that is off meanwhile (as the
    test client does)."""
    with tempfile.TemporaryDirectory() as media, override_settings(MEDIA_ROOT=media), \
            built_once(django_db_blocker, build_world) as built:
        yield built

"""Who may read what, as one table, over every read the product offers.

The table (``SEEN_BY``) names, for each object of a small world, the kinds of
user that may read it; ``PRINCIPALS`` names each role set tried and its
kind. Every read endpoint of the API (enumerated from the schema), every
browser page that shows these objects (enumerated from the URL resolver),
the admin's change lists, change pages and history pages (enumerated from
the admin site), the calendar feeds and the calendar attached to emails are
then read as each principal, and every answer that disagrees with the table
is reported: an object shown that should not be (a leak) or hidden that
should not be. A new endpoint, page or admin fails the coverage tests until
someone decides how it is probed.

The world (two releases, one carrying a task of the principals' vendor
"Acme", one of another vendor "Globex" and an internal task; the other
release none of Acme's; their RFCs, CIs, baselines, plans, a problem, a
template, a freeze, logs and messages) is built once per module. Every
object carries a marker (a word found nowhere else) by which an answer is
read.
"""
from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from changes.models import Problem
from cmdb.models import ConfigurationItem
from cmdb.services import baseline_capture
from evidence.services import attach
from releasemgmt.workflow import ROLES
from notifications import notices
from releases import services as s
from releases.models import (
    RECORD_TYPES,
    CalendarToken,
    FreezeWindow,
    OutboxMessage,
    ReleasePlan,
    Task,
    Team,
    TransitionLog,
    Vendor,
)
from releases.scenario import authorised_rfc, new_release
from releases.standard_changes import standard_change_approve
from releases.template_services import template_create
from releasemgmt.signing import Password
from tests.helpers import built_once, create_user, make_actors
from webhooks.services import subscription_create
from tests.signatures import PASSWORD

pytestmark = pytest.mark.django_db

H = timedelta(hours=1)

# --- the kinds of user, and the table ------------------------------------------------------

ALL = "reads everything"  # a role other than vendor and no vendor membership, or a superuser
BOUND = "vendor-bound reader"  # a reader role, and a vendor's user (by membership or role)
VENDOR = "vendor only"  # the vendor role alone, a member of Acme
NONE = "no role"

# name -> (roles, member of Acme, superuser, kind)
PRINCIPALS = {
    "no role": ((), False, False, NONE),
    **{role: ((role,), role == "vendor", False, VENDOR if role == "vendor" else ALL) for role in ROLES},
    "vendor+stakeholder": (("vendor", "stakeholder"), True, False, BOUND),
    "stakeholder, member of Acme": (("stakeholder",), True, False, BOUND),
    "release manager, member of Acme": (("release_manager",), True, False, BOUND),
    "superuser": ((), False, True, ALL),
}

ANY = {ALL, BOUND, VENDOR}
READERS = {ALL, BOUND}

# object -> the kinds of user who may read it.
SEEN_BY = {
    "release_a": ANY,  # carries Acme's task
    "release_b": READERS,  # carries no task of Acme's
    "task_own": ANY,  # Acme's task, in release A
    "task_other": {ALL},  # Globex's task, in release A
    "task_gone": {ALL},  # Globex's cancelled task, in release A (its log and its routing message)
    "task_internal": READERS,  # a team's task, in release A
    "task_b": READERS,  # a team's task, in release B
    "rfc_a": ANY, "rfc_b": READERS,
    "ci_a": ANY, "ci_b": READERS,  # in scope of A, of B
    "baseline_a": ANY, "baseline_b": READERS,
    "plan_a": ANY, "plan_b": READERS,
    "problem": READERS,  # of release A
    "template": READERS, "template_task": READERS,
    "freeze": READERS, "team": READERS,
    "standard": READERS,  # a standard change (the template's standing approval)
    "vendor_acme": ANY, "vendor_globex": {ALL},
    "user_cm": READERS,  # someone in the user directory
    "token_globex": {ALL},  # another user's calendar token (its admin page)
    # Evidence files: seen with what they are attached to.
    "evidence_a": ANY, "evidence_b": READERS, "evidence_p": READERS,  # on RFC A, RFC B, the problem
    "webhook": READERS,  # an event subscription: its gate lets only release managers (and superusers) near it
}

# Each object's marker: a word nothing else in the world contains.
MARKERS = {
    "release_a": "ZRELA", "release_b": "ZRELB", "task_own": "ZTOWNQ", "task_other": "ZTOTHERQ",
    "task_gone": "ZTGONEQ", "task_internal": "ZTINTQ", "task_b": "ZTBQ", "rfc_a": "ZRFCA", "rfc_b": "ZRFCB",
    "ci_a": "ZCIA", "ci_b": "ZCIB", "baseline_a": "ZBLA", "baseline_b": "ZBLB", "plan_a": "ZPLANA",
    "plan_b": "ZPLANB", "problem": "ZPROBQ", "template": "ZTMPLQ", "template_task": "ZTTASKQ", "freeze": "ZFRZQ",
    "team": "ZTEAMQ", "vendor_acme": "ZACMEQ", "vendor_globex": "ZGLOBEXQ", "user_cm": "zcmuserq",
    "token_globex": "zglobexuserq", "evidence_a": "ZEVAQ", "evidence_b": "ZEVBQ", "evidence_p": "ZEVPQ",
    "webhook": "ZHOOKQ", "standard": "ZSTDCQ",
}


EVIDENCE = ("evidence_a", "evidence_b", "evidence_p")


def may_see(principal: str, obj: str) -> bool:
    return PRINCIPALS[principal][3] in SEEN_BY[obj]


# --- the world ----------------------------------------------------------------------------------


@dataclass
class World:
    users: dict  # principal -> user
    tokens: dict  # principal -> API token key
    calendar_keys: dict  # principal -> private feed key
    ids: dict = field(default_factory=dict)  # object -> pk
    history: dict = field(default_factory=dict)  # object -> id of a historical version
    attachments: dict = field(default_factory=dict)  # recipient user -> the .ics attached to their email


def build_world() -> World:
    # The test users' password (tests.signatures): the walk through the steps signs its decisions with it.
    actors = make_actors(
        create_user, release_manager="w-rm", change_manager="zcmuserq", cab_members=["w-cab1", "w-cab2", "w-cab3"],
        delivery_manager="w-dm", build_team="w-build", test_team="w-test", deployment_team="w-deploy",
        configuration_manager="w-conf", requester="w-req")
    acme = Vendor.objects.create(name="ZACMEQ", email="acme@example.test")
    globex = Vendor.objects.create(name="ZGLOBEXQ", email="globex@example.test")
    globex_user = create_user("zglobexuserq", "vendor")
    globex.users.add(globex_user)
    users = {}
    for i, (name, (roles, acme_member, superuser, _kind)) in enumerate(PRINCIPALS.items()):
        users[name] = create_user(f"p{i}", *roles, is_staff=True, is_superuser=superuser)
        if acme_member:
            acme.users.add(users[name])
    team = Team.objects.create(name="ZTEAMQ")
    team.members.add(users["build_team"])
    rm_acme = users["release manager, member of Acme"]

    ci_a = ConfigurationItem.objects.create(name="ZCIA", ci_type="application", version="1.0")
    ci_b = ConfigurationItem.objects.create(name="ZCIB", ci_type="application", version="1.0")
    release_a = new_release(replace(actors, release_manager=rm_acme), title="ZRELA",
                            rfcs=[authorised_rfc(actors, "ZRFCA")], cis=[ci_a])
    release_b = new_release(actors, title="ZRELB", rfcs=[authorised_rfc(actors, "ZRFCB")], cis=[ci_b])

    def task(release, by, title, **assignee):
        start = release.planned_start + H  # a day ago: overdue, and in every calendar window
        return s.task_create(release_id=release.pk, by=by, title=title, step=12, planned_start=start,
                             planned_end=start + H, **assignee)

    tasks = {
        "task_own": task(release_a, rm_acme, "ZTOWNQ", assignee_vendor=acme),
        "task_other": task(release_a, rm_acme, "ZTOTHERQ", assignee_vendor=globex),
        "task_gone": task(release_a, rm_acme, "ZTGONEQ", assignee_vendor=globex),
        "task_internal": task(release_a, rm_acme, "ZTINTQ", assignee_team=team),
        "task_b": task(release_b, actors.release_manager, "ZTBQ", assignee_team=team),
    }
    s.task_transition(task_id=tasks["task_gone"].pk, name="cancel", by=rm_acme, reason="ZTGONEQ cancelled")
    plan_a = s.record_add(release_id=release_a.pk, record_type="plans", by=rm_acme, scope="ZPLANA")
    plan_b = s.record_add(release_id=release_b.pk, record_type="plans", by=actors.release_manager, scope="ZPLANB")
    conf = actors.configuration_manager
    baseline_a = baseline_capture(cis=[ci_a], name="ZBLA", release=release_a, by=conf)
    baseline_b = baseline_capture(cis=[ci_b], name="ZBLB", release=release_b, by=conf)
    # A problem record is opened for a rolled-back release; its readers are what counts here.
    problem = Problem.objects.create(title="ZPROBQ", release=release_a, created_by=actors.change_manager)
    template = template_create(by=actors.release_manager, name="ZTMPLQ", release_type="minor",
                               tasks=[{"title": "ZTTASKQ", "step": 12, "offset_start": H, "offset_end": 2 * H}])
    now = timezone.now()
    freeze = FreezeWindow.objects.create(name="ZFRZQ", start=now + 48 * H, end=now + 50 * H)
    standard = standard_change_approve(by=actors.change_manager, template=template, cis=[ci_a], note="ZSTDCQ",
                                       signature=Password(PASSWORD))
    # The schedule notice: the calendar attached for each recipient, and the
    # vendor routing messages (Globex's carry its task titles).
    notices.enqueue(release_a, event="schedule", by=rm_acme)
    evidence = {name: attach(record_type=kind, record_id=pk, by=actors.change_manager,
                             upload=SimpleUploadedFile(f"{MARKERS[name]}.txt", b"evidence\n")).pk
                for name, kind, pk in (("evidence_a", "rfc", release_a.rfcs.get().pk),
                                       ("evidence_b", "rfc", release_b.rfcs.get().pk),
                                       ("evidence_p", "problem", problem.pk))}
    webhook, _secret = subscription_create(by=actors.release_manager, url="https://hooks.example.com/zhookq",
                                           event_types=["release.closed"], description="ZHOOKQ chat bot")

    world = World(users=users, tokens={n: Token.objects.create(user=u).key for n, u in users.items()},
                  calendar_keys={n: CalendarToken.for_user(u).key for n, u in users.items()})
    CalendarToken.for_user(globex_user)
    world.ids = {"release_a": release_a.pk, "release_b": release_b.pk, **{k: t.pk for k, t in tasks.items()},
                 "rfc_a": release_a.rfcs.get().pk, "rfc_b": release_b.rfcs.get().pk, "ci_a": ci_a.pk,
                 "ci_b": ci_b.pk, "baseline_a": baseline_a.pk, "baseline_b": baseline_b.pk, "plan_a": plan_a.pk,
                 "plan_b": plan_b.pk, "problem": problem.pk, "template": template.pk,
                 "template_task": template.tasks.get().pk, "freeze": freeze.pk, "team": team.pk,
                 "vendor_acme": acme.pk, "vendor_globex": globex.pk, "user_cm": actors.change_manager.pk,
                 **evidence, "webhook": webhook.pk, "standard": standard.pk}
    for obj, model in (("release_a", type(release_a)), ("release_b", type(release_b)), ("task_own", Task),
                       ("task_other", Task), ("task_internal", Task), ("rfc_b", type(release_b.rfcs.get())),
                       ("ci_b", ConfigurationItem), ("baseline_b", type(baseline_b)), ("plan_b", ReleasePlan),
                       ("problem", Problem)):
        world.history[obj] = model.history.filter(id=world.ids[obj]).latest("history_date").history_id
    for message in OutboxMessage.objects.filter(event="schedule", channel="calendar"):
        world.attachments[message.recipient] = message.payload["ics"]
    assert OutboxMessage.objects.filter(event="route_vendor_task", subject__contains="ZTOTHERQ").exists()
    assert TransitionLog.objects.filter(reason__contains="ZTGONEQ").exists()
    return world


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """Built once for the module inside a transaction rolled back after it
    (requests run in this thread and connection, so Django's closing of old
    connections at each request is off meanwhile, as the test client has it)."""
    with tempfile.TemporaryDirectory() as media, override_settings(MEDIA_ROOT=media), \
            built_once(django_db_blocker, build_world) as built:
        yield built


# --- probes ---------------------------------------------------------------------------------------------


def kind_of(principal):
    return PRINCIPALS[principal][3]


def has_role(*roles):
    def gate(principal, user):
        return user.is_superuser or bool(set(PRINCIPALS[principal][0]) & set(roles))
    return gate


def any_role(principal, user):
    return kind_of(principal) != NONE


def reader(principal, user):
    return kind_of(principal) in READERS


def logged_in(principal, user):
    return True


def anyone(principal, user):
    return True


@dataclass
class Probe:
    """One read: its URL, who may pass its gate (the page or endpoint, whatever
    the object), and the objects it shows. ``mode``: ``list`` (each object's
    marker is in the answer exactly when the principal may see it),
    ``detail`` (200 exactly when it may see them all; the markers then
    present), ``leak`` (a curated page: no marker of an object it may not
    see)."""

    label: str
    url: str
    gate: object
    objects: tuple = ()
    mode: str = "detail"
    via: str = "api"  # api (token) | browser (session) | anonymous
    markers: dict = field(default_factory=dict)  # object -> marker, where the page shows it otherwise

    def marker(self, obj):
        return self.markers.get(obj, MARKERS[obj])


RECORD_API = re.compile(r"^GET /api/releases/\{release_pk\}/(\w+)/(\{id\}/)?$")


def api_probes(world) -> dict[str, list[Probe]]:
    """Per schema operation (GET), the probes that read it."""
    i = world.ids
    today = date.today()
    evidence = f"/api/audit/evidence/?from={today - timedelta(days=2)}&to={today + timedelta(days=1)}"

    def each(label, template, objects, gate=any_role, mode="detail", suffix=""):
        return [Probe(label, template.format(id=i[o]) + suffix, gate, (o,), mode) for o in objects]

    tasks = ("task_own", "task_other", "task_internal", "task_b")
    probes = {
        "GET /api/releases/": [Probe("releases", "/api/releases/", any_role, ("release_a", "release_b"), "list")],
        "GET /api/releases/{id}/": each("release", "/api/releases/{id}/", ("release_a", "release_b")),
        "GET /api/releases/{id}/transitions/": each("release transitions", "/api/releases/{id}/transitions/",
                                                    ("release_a", "release_b")),
        "GET /api/releases/{id}/scope/": each("release scope", "/api/releases/{id}/scope/", ("release_a", "release_b")),
        "GET /api/tasks/": [Probe("tasks", "/api/tasks/?page_size=200", any_role, tasks + ("task_gone",), "list")],
        "GET /api/tasks/{id}/": each("task", "/api/tasks/{id}/", tasks),
        "GET /api/tasks/{id}/transitions/": each("task transitions", "/api/tasks/{id}/transitions/", tasks),
        "GET /api/rfcs/": [Probe("rfcs", "/api/rfcs/", any_role, ("rfc_a", "rfc_b"), "list")],
        "GET /api/rfcs/{id}/": each("rfc", "/api/rfcs/{id}/", ("rfc_a", "rfc_b")),
        "GET /api/rfcs/{id}/transitions/": each("rfc transitions", "/api/rfcs/{id}/transitions/", ("rfc_a", "rfc_b")),
        "GET /api/cis/": [Probe("cis", "/api/cis/", any_role, ("ci_a", "ci_b"), "list")],
        "GET /api/cis/{id}/": each("ci", "/api/cis/{id}/", ("ci_a", "ci_b")),
        "GET /api/cis/{id}/transitions/": each("ci transitions", "/api/cis/{id}/transitions/", ("ci_a", "ci_b")),
        "GET /api/baselines/": [Probe("baselines", "/api/baselines/", any_role, ("baseline_a", "baseline_b"), "list")],
        "GET /api/baselines/{id}/": each("baseline", "/api/baselines/{id}/", ("baseline_a", "baseline_b")),
        "GET /api/baselines/{id}/diff/": [
            Probe("baseline diff", f"/api/baselines/{i['baseline_a']}/diff/?other={i['baseline_b']}", any_role,
                  ("baseline_a", "baseline_b"))],
        "GET /api/problems/": [Probe("problems", "/api/problems/", any_role, ("problem",), "list")],
        "GET /api/problems/{id}/": each("problem", "/api/problems/{id}/", ("problem",)),
        "GET /api/problems/{id}/transitions/": each("problem transitions", "/api/problems/{id}/transitions/",
                                                    ("problem",)),
        "GET /api/release-templates/": [Probe("templates", "/api/release-templates/", any_role, ("template",),
                                              "list")],
        "GET /api/release-templates/{id}/": each("template", "/api/release-templates/{id}/", ("template",)),
        "GET /api/users/": [Probe("users", "/api/users/?page_size=200", any_role, ("user_cm",), "list")],
        "GET /api/users/{id}/": each("user", "/api/users/{id}/", ("user_cm",)),
        "GET /api/users/me/": [Probe("me", "/api/users/me/", logged_in)],
        # What waits on the caller: a curated list, naming nothing they may not see.
        "GET /api/me/queue/": [Probe("my queue", "/api/me/queue/?page_size=200", any_role,
                                     tasks + ("task_gone", "release_a", "release_b", "rfc_a", "rfc_b"), "leak")],
        # The general feed holds release windows (and freezes); tasks are in a
        # release's, a team's and a user's own feed (a vendor's is its own work).
        "GET /api/calendar/": [Probe("calendar", "/api/calendar/", any_role, ("release_a", "release_b"), "list"),
                               Probe("calendar", "/api/calendar/?finished=1&teams=1", any_role, tasks, "leak"),
                               Probe("calendar", "/api/calendar/", any_role, tasks + ("freeze", "task_gone"),
                                     "leak"),
                               Probe("release calendar", f"/api/calendar/?release={i['release_a']}", any_role,
                                     ("release_a",)),
                               Probe("release calendar", f"/api/calendar/?release={i['release_a']}", any_role,
                                     ("task_own", "task_other", "task_internal", "task_gone", "release_b"), "leak")],
        "GET /api/metrics/": [Probe("metrics", "/api/metrics/", reader),
                              Probe("metrics by vendor", f"/api/metrics/?vendor={i['vendor_globex']}", reader,
                                    ("vendor_globex",)),
                              Probe("metrics by vendor", f"/api/metrics/?vendor={i['vendor_acme']}", reader,
                                    ("vendor_acme",))],
        "GET /api/metrics/{metric}.csv": [Probe("metric csv", "/api/metrics/lead_time.csv", reader)],
        "GET /api/audit/evidence/": [Probe("audit evidence", evidence, has_role("release_manager", "change_manager"),
                                           ("release_a", "release_b", "rfc_a", "rfc_b"), "list")],
        # The gate answers about a release its reader may see (404 otherwise); asked
        # by CI and version, it finds only such a release (ZCIB 1.1 is release B's).
        "GET /api/gate/": [*each("gate", "/api/gate/?release={id}", ("release_a", "release_b")),
                           Probe("gate by ci", "/api/gate/?ci=ZCIB&version=1.1", any_role, ("release_b",), "leak",
                                 markers={"release_b": f"REL-{i['release_b']:05d}"})],
        # A release's history holds its tasks' (their titles, a cancellation's reason): those the reader may see.
        "GET /api/releases/{id}/history/": [
            Probe("release history", f"/api/releases/{i['release_a']}/history/?page_size=200", any_role,
                  ("release_a", "task_own", "task_other", "task_gone", "task_internal"), "list"),
            *each("release history", "/api/releases/{id}/history/", ("release_b",))],
        "GET /api/rfcs/{id}/history/": each("rfc history", "/api/rfcs/{id}/history/", ("rfc_a", "rfc_b")),
        "GET /api/tasks/{id}/history/": each("task history", "/api/tasks/{id}/history/", tasks + ("task_gone",)),
        "GET /api/cis/{id}/history/": each("ci history", "/api/cis/{id}/history/", ("ci_a", "ci_b")),
        "GET /api/problems/{id}/history/": each("problem history", "/api/problems/{id}/history/", ("problem",)),
        "GET /api/teams/": [Probe("teams", "/api/teams/", any_role, ("team",), "list")],
        "GET /api/teams/{id}/": each("team", "/api/teams/{id}/", ("team",)),
        "GET /api/vendors/": [Probe("vendors", "/api/vendors/", any_role, ("vendor_acme", "vendor_globex"), "list")],
        "GET /api/vendors/{id}/": each("vendor", "/api/vendors/{id}/", ("vendor_acme", "vendor_globex")),
        "GET /api/freeze-windows/": [Probe("freeze windows", "/api/freeze-windows/", any_role, ("freeze",), "list")],
        "GET /api/freeze-windows/{id}/": each("freeze window", "/api/freeze-windows/{id}/", ("freeze",)),
        "GET /api/evidence/": [Probe("evidence", "/api/evidence/", any_role, EVIDENCE, "list")],
        "GET /api/evidence/{id}/": each("evidence file", "/api/evidence/{id}/", EVIDENCE),
        "GET /api/evidence/{id}/download/": each("evidence download", "/api/evidence/{id}/download/", EVIDENCE),
        # Event subscriptions: for release managers and superusers, 403 for anyone else.
        "GET /api/webhooks/": [Probe("webhooks", "/api/webhooks/", has_role("release_manager"), ("webhook",),
                                     "list")],
        "GET /api/webhooks/{id}/": each("webhook", "/api/webhooks/{id}/", ("webhook",),
                                        gate=has_role("release_manager")),
        "GET /api/webhooks/{id}/deliveries/": each("webhook deliveries", "/api/webhooks/{id}/deliveries/",
                                                   ("webhook",), gate=has_role("release_manager")),
        "GET /api/standard-changes/": [Probe("standard changes", "/api/standard-changes/", any_role, ("standard",),
                                             "list")],
        "GET /api/standard-changes/{id}/": each("standard change", "/api/standard-changes/{id}/", ("standard",)),
    }
    # Every kind of step record is read by one viewset class: each kind is
    # listed on the release a vendor may not see; plans, which the world has,
    # on both and one by one.
    for record_type in RECORD_TYPES:
        releases = ("release_a", "release_b") if record_type == "plans" else ("release_b",)
        probes[f"GET /api/releases/{{release_pk}}/{record_type}/"] = [
            Probe(f"{record_type}", f"/api/releases/{i[r]}/{record_type}/", any_role, (r,)) for r in releases]
        detail = [Probe("plan", f"/api/releases/{i[r]}/plans/{i[p]}/", any_role, (p,))
                  for r, p in (("release_a", "plan_a"), ("release_b", "plan_b"))] if record_type == "plans" else [
            # No such record in the world: never a 2xx, whoever asks.
            Probe(f"{record_type} (none)", f"/api/releases/{i['release_b']}/{record_type}/999999/", anyone,
                  mode="absent")]
        probes[f"GET /api/releases/{{release_pk}}/{record_type}/{{id}}/"] = detail
    return probes


def schema_reads() -> set[str]:
    spec = SchemaGenerator().get_schema(request=None, public=True)
    return {f"GET {path}" for path, item in spec["paths"].items() if "get" in item}


# Browser pages: URL name -> probes; or the reason it is not a read.
NOT_A_READ = {
    "login": "the login form", "logout": "logs out",
    "sso:login": "starts a sign-in at the identity provider", "sso:callback": "the identity provider's answer",
    "sso:sign": "a fresh sign-in for the user's own decision", "sso:resume": "the user's own decision, to send",
    "releases:create": "a form to raise a release", "releases:transition": "POST: a step",
    "releases:record_add": "a form to add a record", "releases:record_edit": "a form to edit a record",
    "releases:scope_add": "POST", "releases:baseline_capture": "POST", "releases:template_create": "a form",
    "releases:acceptance": "POST: the acceptance criteria written in place",
    "releases:cab_vote": "POST", "releases:calendar_subscription": "POST", "releases:task_transition": "POST",
    "changes:create": "a form to raise an RFC", "changes:edit": "a form to edit an RFC before it is authorised",
    "changes:transition": "POST", "changes:problem_transition": "POST", "changes:problem_open": "POST",
    "vendor-inbound": "a vendor's signed webhook, not a user's read",
    "cmdb:ci_add": "a form to register a configuration item",
    "queue-preference": "a form: the user's own choice of how they are told, nobody else's",
    "evidence:attach": "POST: a file attached to a record",
    "webhooks:redeliver": "POST",
    "releases:standard_change_withdraw": "POST: a signed withdrawal",
}


def page_probes(world) -> dict[str, list[Probe]]:
    i = world.ids
    today = timezone.localdate()
    day = timezone.localtime(Task.objects.get(pk=i["task_own"]).planned_start).date()
    tasks = ("task_own", "task_other", "task_internal", "task_b")

    def page(label, url, gate, objects=(), mode="detail", **kw):
        return Probe(label, url, gate, tuple(objects), mode, via="browser", **kw)

    def each(name, gate, objects, **kw):
        return [page(name, reverse(name, args=[i[o]]), gate, (o,), **kw) for o in objects]

    return {
        "dashboard": [page("dashboard", "/", logged_in, tasks + ("release_a", "release_b", "freeze"), "leak")],
        "releases:list": [page("release list", "/releases/", reader, ("release_a", "release_b"), "list")],
        "releases:detail": [
            page("release page", reverse("releases:detail", args=[i["release_a"]]), reader,
                 ("release_a", "task_own", "task_other", "task_internal", "task_gone"), "list"),
            *each("releases:detail", reader, ("release_b",))],
        "releases:edit": each("releases:edit", has_role("release_manager"), ("release_a", "release_b")),
        "releases:task_add": each("releases:task_add", has_role("release_manager"), ("release_a", "release_b")),
        "releases:templates": [page("templates", "/templates/", reader, ("template",), "list")],
        "releases:standard_changes": [page("standard changes", "/standard-changes/", reader, ("standard",), "list")],
        "releases:template_edit": each("releases:template_edit", has_role("release_manager"), ("template",)),
        "releases:audit_export": [
            page("audit page", reverse("releases:audit_export"), has_role("release_manager", "change_manager")),
            page("audit csv", reverse("releases:audit_export") + f"?from={today - timedelta(days=2)}&to={today}",
                 has_role("release_manager", "change_manager"), ("release_a", "release_b", "rfc_a", "rfc_b"),
                 "list")],
        "releases:reports": [page("reports", "/reports/", reader, ("vendor_acme", "vendor_globex", "team"), "list")],
        "releases:cab_queue": [page("cab", "/cab/", reader)],
        "releases:cab_review": each("releases:cab_review", reader, ("release_a", "release_b")),
        "releases:calendar": [
            page("calendar month", f"/calendar/?date={day}", any_role, tasks + ("release_a", "release_b", "freeze"),
                 "leak"),
            page("calendar day", f"/calendar/?view=day&date={day}", any_role,
                 tasks + ("release_a", "release_b"), "list")],
        "releases:tasks": [page("task board", "/tasks/?scope=all", any_role, tasks, "list")],
        "releases:task": each("releases:task", any_role, tasks),
        # What waits on the person (their tasks among it), every page of it.
        "releases:queue": [page("queue", "/queue/", logged_in, tasks + ("release_a", "release_b"), "leak")],
        # The checks as a form is typed answer about a release its reader may open.
        "releases:live_check": each("releases:live_check", reader, ("release_a", "release_b")),
        "changes:list": [page("rfc list", "/rfcs/", reader, ("rfc_a", "rfc_b"), "list")],
        "changes:detail": each("changes:detail", reader, ("rfc_a", "rfc_b")),
        "changes:problem_list": [page("problem list", "/rfcs/problems/", reader, ("problem",), "list")],
        "changes:problem_detail": each("changes:problem_detail", reader, ("problem",)),
        "cmdb:ci_list": [page("ci list", "/cmdb/", reader, ("ci_a", "ci_b"), "list")],
        "cmdb:ci_detail": each("cmdb:ci_detail", reader, ("ci_a", "ci_b")),
        "cmdb:baseline_list": [page("baseline list", "/cmdb/baselines/", reader, ("baseline_a", "baseline_b"),
                                    "list")],
        "cmdb:baseline_detail": each("cmdb:baseline_detail", reader, ("baseline_a", "baseline_b")),
        "calendar-feed": [page("calendar.ics", "/calendar.ics", any_role, ("release_a", "release_b"), "list"),
                          page("calendar.ics", "/calendar.ics?finished=1", any_role, tasks + ("freeze",), "leak")],
        "calendar-private-feed": [],  # per principal, below
        "evidence:download": each("evidence:download", any_role, EVIDENCE),
        "webhooks:list": [page("webhooks", "/webhooks/", has_role("release_manager"), ("webhook",), "list")],
        "webhooks:detail": each("webhooks:detail", has_role("release_manager"), ("webhook",)),
    }


def url_names() -> set[str]:
    names = set()

    def walk(patterns, namespace=None):
        for p in patterns:
            if isinstance(p, URLResolver):
                if p.namespace == "admin" or str(p.pattern).startswith("api/"):
                    continue
                walk(p.url_patterns, p.namespace or namespace)
            elif isinstance(p, URLPattern) and p.name:
                names.add(f"{namespace}:{p.name}" if namespace else p.name)

    walk(get_resolver().url_patterns)
    return {n for n in names if not n.startswith("api-")}


# Admins of models that are not the process's data: Django's permissions
# keep them to superusers.
ADMIN_EXCUSED = {"auth.Group", "auth.User", "authtoken.TokenProxy", "axes.AccessAttempt", "axes.AccessFailureLog",
                 "axes.AccessLog"}
# The step records' admins are one class (StepRecordAdmin) over one restrict
# (by release): the plans' admin is read; the others are checked to be that class.
STEP_RECORD_ADMINS = {m._meta.label for m in RECORD_TYPES.values()} - {"releases.ReleasePlan"}


def authorisation_log(rfc_id):
    return TransitionLog.objects.get(content_type__model="changerequest", object_id=rfc_id, name="authorize")


def admin_probes(world) -> dict[str, list[Probe]]:
    """Per registered model, its change list (with the objects it lists) and,
    for the objects of the table, its history page; for tasks also their
    change page and a version of their history."""
    i = world.ids
    listed = {
        "releases.Release": ("release_a", "release_b"),
        # The tasks, and the vendors its filter offers.
        "releases.Task": ("task_own", "task_other", "task_internal", "vendor_acme", "vendor_globex"),
        "changes.ChangeRequest": ("rfc_a", "rfc_b"), "changes.Problem": ("problem",),
        "cmdb.ConfigurationItem": ("ci_a", "ci_b"), "cmdb.Baseline": ("baseline_a", "baseline_b"),
        "cmdb.BaselineItem": ("ci_a", "ci_b"), "releases.ReleasePlan": ("release_a", "release_b"),
        "releases.ReleaseScopeItem": ("ci_a", "ci_b"), "releases.FreezeWindow": ("freeze",),
        "releases.Team": ("team",), "releases.Vendor": ("vendor_acme", "vendor_globex"),
        "releases.TransitionLog": ("task_gone",), "releases.OutboxMessage": ("task_other",),
        "releases.CalendarToken": ("token_globex",), "releases.ReleaseTemplate": ("template",),
        "releases.TemplateTask": ("template_task",), "releases.StandardChange": ("standard",),
        # The signatures of the RFCs' authorisations, shown by their decision's link.
        "releases.Signature": ("rfc_a", "rfc_b"),
    }
    opened = {"releases.Release": ("release_a", "release_b"),
              "releases.Task": ("task_own", "task_other", "task_internal"), "changes.ChangeRequest": ("rfc_b",),
              "changes.Problem": ("problem",), "cmdb.ConfigurationItem": ("ci_b",), "cmdb.Baseline": ("baseline_b",),
              "releases.ReleasePlan": ("plan_b",)}
    probes = {}
    for model in admin.site._registry:
        label = model._meta.label
        if label in ADMIN_EXCUSED or label in STEP_RECORD_ADMINS:
            continue
        app, name = model._meta.app_label, model._meta.model_name
        gate = (lambda perm: lambda principal, user: user.has_perm(perm))(f"{app}.view_{name}")
        base = f"admin:{app}_{name}"
        markers = {"release_a": "ZRELA", "release_b": "ZRELB"}
        if label == "releases.Signature":
            markers = {obj: f'/admin/releases/transitionlog/{authorisation_log(i[obj]).pk}/change/"'
                       for obj in ("rfc_a", "rfc_b")}
        rows = [Probe(f"admin {label} list", reverse(f"{base}_changelist"), gate, listed.get(label, ()),
                      "list" if label in listed else "detail", via="browser", markers=markers)]
        for obj in opened.get(label, ()):
            pk, version = i[obj], world.history[obj]
            rows.append(Probe(f"admin {label} history", reverse(f"{base}_history", args=[pk]), gate, (obj,),
                              via="browser"))
            if label == "releases.Task":
                rows += [Probe(f"admin {label} change", reverse(f"{base}_change", args=[pk]), gate, (obj,),
                               via="browser"),
                         Probe(f"admin {label} version", reverse(f"{base}_simple_history", args=[pk, version]), gate,
                               (obj,), via="browser")]
        probes[label] = rows
    return probes


# --- reading --------------------------------------------------------------------------------------------


def read(probe: Probe, principal: str, user, clients) -> list[str]:
    """The probe's answer for this principal against the table: a line per disagreement."""
    response = clients[probe.via].get(probe.url, secure=True)
    status = response.status_code
    body = b"".join(response.streaming_content) if response.streaming else response.content
    text = body.decode("utf-8", "replace")
    where = f"{principal}: {probe.label} {probe.url}"
    if status >= 500:
        return [f"{where}: {status}"]
    passes = probe.gate(principal, user)
    if probe.mode == "absent":  # an id that does not exist: never 2xx
        return [f"{where}: {status} for a record that does not exist"] if status < 300 else []
    if not passes and status < 300 and probe.mode != "leak":
        return [f"{where}: {status}, but this principal may not open it"]
    out = []
    if probe.mode == "detail":
        expected = passes and all(may_see(principal, o) for o in probe.objects)
        shown = status == 200
        if shown != expected:
            out.append(f"{where}: {status}, expected {'200' if expected else 'a refusal'}")
        return out
    for obj in probe.objects:
        expected = passes and may_see(principal, obj)
        shown = status == 200 and probe.marker(obj) in text
        if shown and not expected:
            out.append(f"{where}: shows {obj} ({probe.marker(obj)})")
        elif expected and not shown and probe.mode == "list":
            out.append(f"{where}: {status}, {obj} ({probe.marker(obj)}) missing")
    return out


def clients_for(world, principal) -> dict:
    user = world.users[principal]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {world.tokens[principal]}")
    browser = Client()
    browser.force_login(user)
    return {"api": api, "browser": browser, "anonymous": Client()}


def test_every_read_of_the_api_is_probed(world):
    probes = api_probes(world)
    assert not schema_reads() - set(probes), "GET operations nobody decided how to probe"
    assert not set(probes) - schema_reads(), "probes of operations the schema no longer has"


def test_every_page_is_probed_or_not_a_read(world):
    probes = page_probes(world)
    names = url_names()
    assert not names - set(probes) - set(NOT_A_READ), "pages nobody decided how to probe"
    assert not (set(probes) | set(NOT_A_READ)) - names, "probes of pages that no longer exist"


def test_every_admin_is_probed_or_excused(world):
    from releasemgmt.admin_mixins import AuditAdmin
    from releases.admin import StepRecordAdmin

    registered = {m._meta.label: a for m, a in admin.site._registry.items()}
    probed = set(admin_probes(world))
    assert not set(registered) - probed - ADMIN_EXCUSED - STEP_RECORD_ADMINS, "admins nobody decided how to probe"
    assert ADMIN_EXCUSED | STEP_RECORD_ADMINS <= set(registered)
    assert all(isinstance(registered[label], StepRecordAdmin) for label in STEP_RECORD_ADMINS)
    # Every admin of the process's data reads through the restrict of AuditAdmin
    # (or says why not: the refused attempts and the signatures, plain
    # ModelAdmins that restrict too).
    assert {label for label, a in registered.items() if label not in ADMIN_EXCUSED
            and not isinstance(a, AuditAdmin)} == {"releases.RefusedAttempt", "releases.Signature"}


@pytest.mark.parametrize("principal", list(PRINCIPALS))
def test_each_principal_reads_exactly_what_the_table_says(world, principal):
    user = get_user_model().objects.get(pk=world.users[principal].pk)
    clients = clients_for(world, principal)
    probes = [p for group in (api_probes(world), page_probes(world), admin_probes(world)) for ps in group.values()
              for p in ps]
    # The private feed stands for its token's user: what concerns them, of what they may see.
    probes.append(Probe("private feed", f"/calendar/{world.calendar_keys[principal]}.ics", any_role,
                        ("task_own", "task_other", "task_internal", "task_b", "release_b", "freeze"), "leak",
                        via="anonymous"))
    problems = [line for probe in probes for line in read(probe, principal, user, clients)]
    if reader(principal, user):
        # The figures count what the principal may see: the open tasks, all overdue.
        overdue = clients["api"].get("/api/metrics/", secure=True).json()["tasks"]["overdue"]
        expected = sum(may_see(principal, t) for t in ("task_own", "task_other", "task_internal", "task_b"))
        if overdue != expected:
            problems.append(f"{principal}: /api/metrics/ counts {overdue} overdue tasks, expected {expected}")
    assert not problems, f"{len(problems)} disagreements with the table:\n" + "\n".join(problems)


def test_the_calendar_attached_to_an_email_shows_each_recipient_what_they_may_see(world):
    kinds = {user.email: name for name, user in world.users.items()}
    recipients = set(world.attachments)
    # The schedule notice reaches the assignees (Acme's and Globex's users, the
    # team), the stakeholders and the owners of the CIs in scope.
    assert {world.users[n].email for n in ("vendor", "vendor+stakeholder", "stakeholder", "build_team",
                                            "stakeholder, member of Acme")} <= recipients
    problems = []
    for email, ics in world.attachments.items():
        principal = kinds.get(email)
        for obj in ("task_own", "task_other", "task_internal"):
            if email.startswith("zglobexuserq"):  # Globex's own user: its task, not Acme's, not the team's
                expected = obj == "task_other"
            elif principal is None:  # the world's own people (a requester, say): internal readers
                expected = True
            else:
                expected = may_see(principal, obj)
            if (MARKERS[obj] in ics) != expected:
                problems.append(f"{principal or email}: {obj} {'missing from' if expected else 'in'} the .ics")
    assert not problems, "\n".join(problems)

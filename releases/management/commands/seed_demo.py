"""Load demo data: one user per role, teams, a vendor, a small CMDB, RFCs and
releases standing at different steps of the 20-step process.

Every release is moved only through the release services (``releases.scenario``
drives them), so the demo data carries the same records, history, transition
log and outbox rows a real release would. The releases have a past: they were
raised over the last months and each step took part of its target duration
(a few overran it), with the clock the services read set to the moment of
each step (``releases.demo_history``), so the reports and the calendar have
something to show. The command is idempotent: users,
teams, CIs and RFCs are looked up by their natural key and releases by their
title; whatever already exists is left alone, so a second run changes nothing.
"""
from __future__ import annotations

from contextlib import contextmanager
from datetime import timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django.test.utils import override_settings
from django.utils import timezone

from changes.models import ChangeRequest
from changes.services import problem_create_from_release, release_rolled_back, rfc_create, rfc_transition
from cmdb.models import ConfigurationItem
from releasemgmt.workflow import name_of
from releases import services as s
from releases.choices import ReleaseType
from releases.models import FreezeWindow, Release, ReleaseTemplate, Team, TransitionLog, Vendor
from releases.demo_history import BEFORE_DEPLOYMENT, DemoClock, Pace, TimedWalker, path_to
from releases.scenario import Actors, authorised_rfc, new_release
from releases.template_services import template_create

PASSWORD = "demo-pass-2026"

# username -> (group, first name, last name)
USERS = {
    "release_manager": ("release_manager", "Rita", "Reyes"),
    "change_manager": ("change_manager", "Carlos", "Mendes"),
    "cab_member": ("cab_member", "Aisha", "Khan"),
    "cab_member2": ("cab_member", "Bruno", "Keller"),
    "delivery_manager": ("delivery_manager", "Diana", "Moreau"),
    "build_team": ("build_team", "Ben", "Turner"),
    "test_team": ("test_team", "Tara", "Lindqvist"),
    "deployment_team": ("deployment_team", "Dev", "Patel"),
    "configuration_manager": ("configuration_manager", "Chen", "Wei"),
    "vendor": ("vendor", "Victor", "Acme"),
    "stakeholder": ("stakeholder", "Sofia", "Rossi"),
    "requester": ("stakeholder", "Rafael", "Quint"),
}

TEAMS = {
    "Build team": ("build-team@example.com", ["build_team"]),
    "Test team": ("test-team@example.com", ["test_team"]),
    "Deployment team": ("deployment-team@example.com", ["deployment_team"]),
}

VENDOR = "Acme Hosting"

# name -> (type, version, owner, attributes, depends on)
CIS = {
    "orders-db": ("database", "14.11", "configuration_manager",
                  {"engine": "PostgreSQL", "environment": "production", "host": "db-prod-01"}, []),
    "payments-db": ("database", "14.11", "configuration_manager",
                    {"engine": "PostgreSQL", "environment": "production", "host": "db-prod-02", "pci": True}, []),
    "auth-service": ("service", "5.2.0", "release_manager",
                     {"language": "Go", "environment": "production", "replicas": 3}, []),
    "orders-api": ("application", "2.3.1", "release_manager",
                   {"language": "Python", "environment": "production", "replicas": 4},
                   ["orders-db", "auth-service"]),
    "payments-api": ("application", "1.8.4", "release_manager",
                     {"language": "Java", "environment": "production", "replicas": 2, "pci": True},
                     ["payments-db", "auth-service"]),
    "web-portal": ("application", "3.4.0", "release_manager",
                   {"framework": "React", "environment": "production", "url": "https://shop.example.com"},
                   ["orders-api", "payments-api", "auth-service"]),
    "app-server-01": ("server", "Debian 12.5", "configuration_manager",
                      {"cpu": 8, "ram_gb": 32, "datacentre": "Acme Hosting AMS1"}, []),
    "edge-load-balancer": ("network", "HAProxy 2.8", "configuration_manager",
                           {"vendor": "Acme Hosting", "datacentre": "Acme Hosting AMS1"}, ["web-portal"]),
}

# RFCs raised but not (yet) in a release: (title, state to reach, risk, impact)
STANDALONE_RFCS = [
    ("Add Apple Pay to the checkout", "submitted", "high", "medium"),
    ("Archive orders older than seven years", "assessed", "low", "low"),
    ("Upgrade auth-service TLS ciphers", "authorized", "medium", "medium"),
]

# The releases, oldest first (closing a release moves its CIs to the target
# versions, so the finished ones come before those still in flight); they
# are raised in the order of their past (``DAYS_AGO``).
# (title, type, RFC titles, CI names, target state, how)
RELEASES = [
    ("Checkout redesign", ReleaseType.MAJOR, ["New checkout flow", "Saved payment cards"],
     ["web-portal", "payments-api"], "closed", None),
    ("Auth service key rotation", ReleaseType.MINOR, ["Rotate token signing keys"],
     ["auth-service"], "closed", None),
    ("Hotfix: payment double charge", ReleaseType.EMERGENCY, ["Fix duplicate payment capture"],
     ["payments-api"], "closed", None),
    ("Orders API pagination", ReleaseType.MINOR, ["Cursor pagination for order lists"],
     ["orders-api"], "closed", None),
    ("Orders API bulk export", ReleaseType.MINOR, ["Bulk order export endpoint"],
     ["orders-api"], "closed", "rolled_back"),
    ("Web portal spring fixes", ReleaseType.MINOR, ["Fix basket rounding and broken help links"],
     ["web-portal"], "closed", None),
    ("Search relevance tuning", ReleaseType.MINOR, ["Better product search ranking"],
     ["web-portal"], "cancelled", None),
    ("Auth session hardening", ReleaseType.MINOR, ["Shorter session lifetime"],
     ["auth-service"], "rolled_back", "rolled_back"),
    ("Orders DB minor upgrade", ReleaseType.MINOR, ["PostgreSQL 14.12 patch release"],
     ["orders-db"], "deployed", None),
    ("Loyalty points", ReleaseType.MAJOR, ["Loyalty points programme"],
     ["orders-api", "web-portal"], "ready", None),
    ("Payments API logging", ReleaseType.MINOR, ["Structured payment logs"],
     ["payments-api"], "testing", None),
    ("Edge load balancer upgrade", ReleaseType.MINOR, ["Upgrade HAProxy to 2.9"],
     ["edge-load-balancer", "app-server-01"], "scheduled", "vendor_task"),
    ("Q3 portal release", ReleaseType.MAJOR, ["Portal accessibility fixes", "New order history page"],
     ["web-portal", "orders-api"], "plan_submitted", None),
    ("Payments DB index tuning", ReleaseType.MINOR, ["Index payments by merchant"],
     ["payments-db"], "new", None),
]

# The past: how many days before today each finished release started its
# deployment (the cancelled one: was cancelled), so the releases spread over
# the last months; those not listed are in flight and reached the state they
# stand in a while ago (``releases.demo_history``).
DAYS_AGO = {"Checkout redesign": 150, "Auth service key rotation": 128, "Hotfix: payment double charge": 110,
            "Orders API pagination": 92, "Orders API bulk export": 70, "Web portal spring fixes": 45,
            "Search relevance tuning": 30, "Auth session hardening": 12, "Orders DB minor upgrade": 1}
# Releases that overran the target of these steps (an in-flight one: of the
# step it stands in).
LATE = {"Checkout redesign": ["testing"], "Orders API pagination": ["plan_submitted", "building"],
        "Web portal spring fixes": ["testing", "ready"], "Orders DB minor upgrade": ["deployed"],
        "Payments API logging": ["testing"]}

FREEZE = "Year-end change freeze"

# Days ahead of now at which each in-flight release's window opens.
IN_FLIGHT_OFFSETS = {"ready": 16, "testing": 32, "plan_submitted": 48, "new": 64}


@contextmanager
def _outbox_held():
    """The demo's history writes its notifications to the outbox as any
    release would and the relay delivers them, but into memory: the demo
    users' addresses are fictitious, and hundreds of console e-mails would
    bury the summary (and flood the console at the next real transition)."""
    with override_settings(EMAIL_BACKEND="django.core.mail.backends.locmem.EmailBackend"):
        yield


class Command(BaseCommand):
    help = "Load demo users (password demo-pass-2026), teams, a vendor, CIs, RFCs and releases at different steps."

    def handle(self, *args, **options):
        self.created = {"users": 0, "teams": 0, "vendors": 0, "CIs": 0, "RFCs": 0, "releases": 0,
                        "freeze windows": 0, "release templates": 0, "problem records": 0}
        self.clock = DemoClock()
        with _outbox_held(), self.clock.running(), transaction.atomic():
            users = self._users()
            self._teams(users)
            vendor = self._vendor(users)
            cis = self._cis(users)
            actors = Actors(
                release_manager=users["release_manager"],
                change_manager=users["change_manager"],
                cab_members=[users["cab_member"], users["cab_member2"]],
                delivery_manager=users["delivery_manager"],
                build_team=users["build_team"],
                test_team=users["test_team"],
                deployment_team=users["deployment_team"],
                configuration_manager=users["configuration_manager"],
                requester=users["requester"],
                password=PASSWORD,
            )
            self._standalone_rfcs(actors)
            # In the order they were raised, so their numbers follow the calendar.
            for spec in sorted(RELEASES, key=self._raised):
                self._release(actors, vendor, cis, *spec)
            self._freeze(users)
            self._templates(actors, vendor)
            self._problems(actors)
        self._summary()

    # -- people -------------------------------------------------------------------

    def _users(self):
        User = get_user_model()
        users = {}
        admin, created = User.objects.get_or_create(
            username="admin",
            defaults={"email": "admin@example.com", "first_name": "Ada", "last_name": "Admin",
                      "is_staff": True, "is_superuser": True},
        )
        if created:
            admin.set_password(PASSWORD)
            admin.save()
            self.created["users"] += 1
        users["admin"] = admin
        for username, (group_name, first, last) in USERS.items():
            # The roles work in the browser UI and the API; only the
            # administrator uses Django admin (the contract's "admins use Django
            # admin"). A demo loaded by an older version made everyone staff:
            # that is taken back here.
            user, created = User.objects.get_or_create(
                username=username,
                defaults={"email": f"{username}@example.com", "first_name": first, "last_name": last,
                          "is_staff": False},
            )
            if created:
                user.set_password(PASSWORD)
                user.save()
                self.created["users"] += 1
            elif user.is_staff:
                user.is_staff = False
                user.save(update_fields=["is_staff"])
            group = Group.objects.get(name=group_name)
            if not user.groups.filter(pk=group.pk).exists():
                user.groups.add(group)
            users[username] = user
        return users

    def _teams(self, users):
        for name, (email, members) in TEAMS.items():
            team, created = Team.objects.get_or_create(name=name, defaults={"email": email})
            self.created["teams"] += created
            missing = [users[m] for m in members if not team.members.filter(pk=users[m].pk).exists()]
            if missing:
                team.members.add(*missing)

    def _vendor(self, users):
        vendor, created = Vendor.objects.get_or_create(name=VENDOR, defaults={"email": "support@acme-hosting.example.com"})
        self.created["vendors"] += created
        if not vendor.users.filter(pk=users["vendor"].pk).exists():
            vendor.users.add(users["vendor"])
        return vendor

    # -- CMDB -----------------------------------------------------------------------

    def _cis(self, users):
        cis = {}
        for name, (ci_type, version, owner, attributes, _) in CIS.items():
            ci = ConfigurationItem.objects.filter(name=name).first()
            if ci is None:
                ci = ConfigurationItem(name=name, ci_type=ci_type, version=version, owner=users[owner],
                                       attributes=attributes)
                ci._history_user = users["configuration_manager"]
                ci._change_reason = "demo data"
                ci.save()
                self.created["CIs"] += 1
            cis[name] = ci
        for name, (*_, depends_on) in CIS.items():
            ci = cis[name]
            have = set(ci.depends_on.values_list("name", flat=True))
            missing = [cis[d] for d in depends_on if d not in have]
            if missing:
                ci.depends_on.add(*missing)
        return cis

    # -- RFCs and releases ------------------------------------------------------------

    def _standalone_rfcs(self, actors):
        for title, target, risk, impact in STANDALONE_RFCS:
            if ChangeRequest.objects.filter(title=title).exists():
                continue
            rfc = rfc_create(by=actors.requester, title=title, description=f"{title}: requested change.",
                             risk=risk, impact=impact)
            self.created["RFCs"] += 1
            for step in ("assess", "authorize"):
                if rfc.state == target:
                    break
                signed = {"signature": actors.signature()} if step == "authorize" else {}
                rfc = rfc_transition(rfc_id=rfc.pk, name=step, by=actors.change_manager, **signed)

    def _release(self, actors, vendor, cis, title, release_type, rfc_titles, ci_names, target, how):
        if Release.objects.filter(title=title).exists():
            return
        pace = Pace(title, release_type, LATE.get(title, ()))
        created, window = self._timeline(pace, target, how)
        try:
            self.clock.at = created - timedelta(days=2)  # the RFCs come first
            self._walk(actors, vendor, cis, pace, created, window,
                       title, release_type, rfc_titles, ci_names, target, how)
        finally:
            self.clock.at = None

    def _raised(self, spec):
        title, release_type, _, _, target, how = spec
        return self._timeline(Pace(title, release_type, LATE.get(title, ())), target, how)[0]

    def _timeline(self, pace, target, how):
        """When the release was raised, and the moment its planned window is
        built around (``new_release``: from a day before to two weeks after):
        a finished release was raised as long before its deployment started
        (``DAYS_AGO``) as its steps up to it took; one in flight as long
        before today as its steps up to the one it stands in took, plus part
        of that one."""
        now = self.clock.real()
        if pace.title in DAYS_AGO:
            at = now - timedelta(days=DAYS_AGO[pace.title])
            path = path_to(target, cancel_from="plan_approved") if target == "cancelled" else BEFORE_DEPLOYMENT
            return at - pace.total(path), at
        # Releases still on their way to deployment get their own future
        # windows, one after another: in one window they would collide on the
        # CIs they share (the scheduling guard refuses that).
        offset = IN_FLIGHT_OFFSETS.get(target) if how is None else None
        return now - pace.total(path_to(target)) - pace.stay(target), now + timedelta(days=offset or 0)

    def _walk(self, actors, vendor, cis, pace, created, window,
              title, release_type, rfc_titles, ci_names, target, how):
        rfcs = []
        for rfc_title in rfc_titles:
            rfc = ChangeRequest.objects.filter(title=rfc_title).first()
            if rfc is None:
                rfc = authorised_rfc(actors, rfc_title,
                                     change_type="emergency" if release_type == ReleaseType.EMERGENCY else "normal")
                self.created["RFCs"] += 1
            rfcs.append(rfc)
        self.clock.at = created
        scope = [ConfigurationItem.objects.get(pk=cis[n].pk) for n in ci_names]  # current versions
        release = new_release(actors, title=title, release_type=release_type, rfcs=rfcs, cis=scope, now=window)
        self.created["releases"] += 1
        walker = TimedWalker(release, actors, self.clock, pace)
        rm = actors.release_manager

        if how == "rolled_back":
            walker.to("rolled_back", rollback_from="deployed")
            problem_create_from_release(release_id=release.pk, by=rm,
                                        description="Root cause analysis of the failed deployment.")
            self.created["problem records"] += 1
            walker.add("communications", rm, kind="failure_notice", rfc_requesters=True,
                       roles=["stakeholder"],
                       subject=f"{release.number} was rolled back",
                       body="The deployment failed its health checks and was rolled back; service is restored.")
            walker.to(target)
        elif how == "vendor_task":
            walker.to("plan_approved")
            self._tasks(release, actors, vendor)
            walker.to(target)
        elif target == "cancelled":
            walker.to("plan_approved")
            self.clock.advance(pace.stay("plan_approved"))
            s.release_transition(release_id=release.pk, name=name_of(Release.cancel), by=rm,
                                 reason="Superseded by the search platform migration planned for next quarter.")
        else:
            walker.to(target)
            if target == "testing":
                smoke = walker.release.test_cases.filter(name="Smoke test").first()
                if smoke:
                    walker.add("test_results", actors.test_team, test_case=smoke, outcome="passed")
            elif target == "ready":
                walker.add("readiness_assessments", actors.delivery_manager,
                           risks="Moderate: new database tables; rollback tested.",
                           recommendation="Go, once the service desk briefing is confirmed.")

    def _tasks(self, release, actors, vendor):
        """Step 3 with teams and the vendor's queue (instead of the walker's
        default tasks assigned to single users)."""
        release.refresh_from_db()
        start = release.planned_start + timedelta(hours=3)
        end = release.planned_end - timedelta(hours=3)
        rm = actors.release_manager
        build, deploy = Team.objects.get(name="Build team"), Team.objects.get(name="Deployment team")
        s.task_create(release_id=release.pk, by=rm, title="Assemble HAProxy packages", step=4,
                      assignee_team=build, planned_start=start, planned_end=end)
        s.task_create(release_id=release.pk, by=rm, title="Deploy to production", step=12,
                      assignee_team=deploy, planned_start=start, planned_end=end)
        s.task_create(release_id=release.pk, by=rm, title="Update the edge load balancer in the AMS1 data centre",
                      step=12, assignee_vendor=vendor, planned_start=end - timedelta(days=2), planned_end=end,
                      description="Acme Hosting operates the load balancer; apply the new HAProxy configuration.")

    def _freeze(self, users):
        if FreezeWindow.objects.filter(name=FREEZE).exists():
            return
        start = timezone.now() + timedelta(days=90)
        freeze = FreezeWindow(name=FREEZE, start=start, end=start + timedelta(days=14),
                              reason="Peak trading season: no changes to production.",
                              created_by=users["change_manager"])
        freeze._history_user = users["change_manager"]
        freeze.save()
        self.created["freeze windows"] += 1

    # -- release templates and problem records --------------------------------------------

    def _templates(self, actors, vendor):
        build, deploy = Team.objects.get(name="Build team"), Team.objects.get(name="Deployment team")
        tests = Team.objects.get(name="Test team")
        h = timedelta(hours=1)
        specs = [
            dict(name="Monthly minor release", release_type=ReleaseType.MINOR,
                 description="The monthly bundle of small changes.", scope="The month's authorised minor RFCs.",
                 deployment_approach="Rolling deployment, one node at a time.",
                 risks="Short service degradation during the rollout.", teams="Build, test and deployment teams.",
                 rollback_plan="Redeploy the previous artefacts; restore the pre-release baseline.",
                 tasks=[{"title": "Assemble packages", "step": 4, "team": build, "offset_start": -72 * h,
                         "offset_end": -48 * h},
                        {"title": "Regression run", "step": 6, "team": tests, "offset_start": -48 * h,
                         "offset_end": -24 * h},
                        {"title": "Deploy to production", "step": 12, "team": deploy, "offset_start": 2 * h,
                         "offset_end": 4 * h}],
                 test_cases=[{"name": "Smoke test"}, {"name": "Regression suite"},
                             {"name": "Exploratory session", "mandatory": False}]),
            dict(name="Emergency hot fix", release_type=ReleaseType.EMERGENCY,
                 description="One urgent fix, approved by the ECAB.", scope="The single emergency RFC.",
                 deployment_approach="Hot fix on every node at once.", risks="Untested paths; short window.",
                 teams="Deployment team and the vendor on call.", downtime_expected=True,
                 rollback_plan="Revert the hot fix package.",
                 tasks=[{"title": "Deploy the hot fix", "step": 12, "team": deploy, "offset_start": 0 * h,
                         "offset_end": 1 * h},
                        {"title": "Vendor on call", "step": 12, "vendor": vendor, "offset_start": 0 * h,
                         "offset_end": 2 * h}],
                 test_cases=[{"name": "Smoke test"}]),
        ]
        for spec in specs:
            if not ReleaseTemplate.objects.filter(name=spec["name"]).exists():
                template_create(by=actors.release_manager, **spec)
                self.created["release templates"] += 1

    def _problems(self, actors):
        """A problem record for each rolled-back demo release without one
        (e.g. in a database seeded before problem records existed)."""
        for release in Release.objects.filter(state__in=("rolled_back", "closed"), problem__isnull=True):
            if release_rolled_back(release):
                problem_create_from_release(release_id=release.pk, by=actors.change_manager)
                self.created["problem records"] += 1

    # -- report --------------------------------------------------------------------------

    def _summary(self):
        created = ", ".join(f"{n} {k}" for k, n in self.created.items() if n) or "nothing (already loaded)"
        self.stdout.write(self.style.SUCCESS(f"Demo data: created {created}."))
        states = {}
        for state in Release.objects.values_list("state", flat=True):
            states[state] = states.get(state, 0) + 1
        rolled = TransitionLog.objects.filter(name="complete_rollback").count()
        self.stdout.write(
            f"Now: {get_user_model().objects.count()} users, {Team.objects.count()} teams, "
            f"{Vendor.objects.count()} vendors, {ConfigurationItem.objects.count()} CIs, "
            f"{ChangeRequest.objects.count()} RFCs, {Release.objects.count()} releases "
            f"({', '.join(f'{n} {st}' for st, n in sorted(states.items()))}; {rolled} rolled back)."
        )
        self.stdout.write(f"Log in at http://127.0.0.1:8000/ with any demo user, password {PASSWORD} "
                          "(Django admin: the user admin only)")

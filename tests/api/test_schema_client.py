"""An integration written only against the published OpenAPI document.

A client that knows nothing of the code (``schema_client``: it loads
``/api/schema/?format=json`` and validates every request it sends and every
answer it gets against it) takes a minor, a major, an emergency and a
rolled-back release through the 20 steps of release-flow.md, each step by a
user of the role that owns it, decisions signed as docs/api.md says
(``release_journeys``); then it does what else the schema offers and reads
every list and object it describes (``api_tour``). The people, the vendor
with its integration secret, the team and, where the schema offers no way to
write one, the freeze window are set up through Django, as a deployment's
administrator would; everything else goes over HTTP to the WSGI application,
tokens from the documented token endpoint.

The assertions are about the whole log of exchanges: every release reached
``closed`` along the 20 steps; every call got the answer the suite expected
(a success, or one of the few documented refusals it asks for); every
exchange kept to the schema; no server error; every operation the schema
offers, and every transition it names, succeeded at least once, unless it
is in ``NOT_EXERCISED`` with the reason. So an operation the schema offers
and the server always refuses is a failure here, with the answers it got.

The whole tour runs once per module, inside a transaction rolled back at
the end; the tests read its log.
"""
from __future__ import annotations

import traceback
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import pytest
from django.test import override_settings

from releasemgmt.wsgi import application
from tests.helpers import built_once, create_user
from tests.signatures import PASSWORD

from . import api_tour
from .release_journeys import HAPPY_PATH, ROLLED_BACK_PATH, Cast, emergency, iso, major, minor, rolled_back
from .schema_client import Api, Exchange, WSGITransport

# The tests read the tour's log; the tour itself runs in a transaction of
# its own (``tour``).
pytestmark = pytest.mark.django_db

# What the suite does not exercise, and why; keep it short. Keys are
# operation labels, or "label name=value" for one value of an enumerated
# path parameter (a transition name).
NOT_EXERCISED = {
    "POST /api/gate/deployments/":
        "A pipeline's report of a deployment takes a gate-only token of a deployment-team service account "
        "(created in the admin) and a release backed up inside its window; tests/pipelines/test_gate_journey.py "
        "drives it over HTTP.",
    "POST /api/gate/deployments/{deployment_id}/finish/":
        "Finishes a deployment a pipeline started (above); tests/pipelines/test_gate_journey.py drives it.",
    "POST /api/webhooks/{id}/deliveries/{delivery_id}/redeliver/":
        "Redelivers a delivery the relay has sent or given up on; the tour runs in one transaction, so the relay "
        "never sends (its deliveries stay queued: 409); tests/webhooks/test_webhooks.py drives it.",
    "POST /api/gate/github/{adapter_id}/":
        "GitHub's deployment_protection_rule webhook: signed with an adapter's secret (no user token) and answered "
        "through GitHub's callback API; tests/pipelines/test_adapter_github.py drives it against a fake GitHub.",
    "POST /api/gate/gitlab/{adapter_id}/":
        "GitLab's deployment events: authenticated by an adapter's X-Gitlab-Token, answered through GitLab's "
        "approval API; tests/pipelines/test_adapter_gitlab.py drives it against a fake GitLab.",
    "POST /api/cis/{id}/transitions/{name}/ name=commission":
        "POST /api/cis/ registers a CI live; planned CIs, the only ones that can be commissioned, come from the "
        "admin, so no CI made over the API can take this transition.",
}

PEOPLE = {
    "requester": ("stakeholder",), "cm": ("change_manager",), "rm": ("release_manager",),
    "cab1": ("cab_member",), "cab2": ("cab_member",), "dm": ("delivery_manager",), "builder": ("build_team",),
    "tester": ("test_team",), "deployer": ("deployment_team",), "confman": ("configuration_manager",),
    "vendor": ("vendor",), "stakeholder": ("stakeholder",),
}
JOURNEYS = ("minor", "major", "emergency", "rolled_back")


@dataclass
class Tour:
    api: Api
    journeys: dict = field(default_factory=dict)  # name -> Journey (or None)
    errors: dict = field(default_factory=dict)  # name -> traceback of what stopped it

    @property
    def log(self) -> list[Exchange]:
        return self.api.log


def set_up_as_the_administrator():
    """What a deployment's administrator sets up outside the API: the people
    (with their roles and passwords), a vendor with its integration secret
    (shown once, passed to the vendor), a team."""
    from releases.models import Team, Vendor
    from releases.vendor_services import vendor_secret_rotate

    users = {name: create_user(name, *roles) for name, roles in PEOPLE.items()}
    admin = create_user("admin", is_superuser=True, is_staff=True)
    vendor = Vendor.objects.create(name="Acme Payments", email="queue@acme.test")
    vendor.users.add(users["vendor"])
    secret = vendor_secret_rotate(vendor_id=vendor.pk, by=admin)
    team = Team.objects.create(name="Platform team", email="platform@example.test")
    team.members.add(users["deployer"])
    return admin, vendor.pk, secret, team.pk


def freeze_window_for(admin):
    """A freeze on the emergency release's CIs, running now: declared over
    the API where the schema offers freeze windows (and then changed,
    replaced, and a second one lifted, as far as it offers), otherwise by
    the administrator."""
    def put_freeze(journey):
        rm, now = journey.c["rm"], datetime.now(timezone.utc)
        fields = {"name": "Year-end freeze", "start": iso(now - timedelta(hours=1)),
                  "end": iso(now + timedelta(days=2)), "reason": "Year-end trading.", "cis": [journey.cis["api"]]}
        if rm.api.offers("POST /api/freeze-windows/"):
            keep_freeze_windows(rm, fields)
            return
        from releases.models import FreezeWindow

        freeze = FreezeWindow.objects.create(name=fields["name"], start=now - timedelta(hours=1),
                                             end=now + timedelta(days=2), reason=fields["reason"], created_by=admin)
        freeze.cis.add(journey.cis["api"])
    return put_freeze


def keep_freeze_windows(rm, fields):
    api, detail = rm.api, "/api/freeze-windows/{id}/"
    path = {"id": rm.post("/api/freeze-windows/", body=fields).body["id"]}
    if api.offers(f"PATCH {detail}"):
        etag = rm.get(detail, path=path).etag
        rm.patch(detail, path=path, headers={"If-Match": etag}, body={"reason": "Year-end trading; payments."})
    if api.offers(f"PUT {detail}"):
        rm.put(detail, path=path, body={**fields, "reason": "Year-end trading; payments only."})
    if api.offers(f"DELETE {detail}"):
        later = datetime.now(timezone.utc) + timedelta(days=60)
        mistake = rm.post("/api/freeze-windows/", body={
            "name": "Declared by mistake", "start": iso(later), "end": iso(later + timedelta(days=1)),
            "reason": "Wrong month.", "cis": []}).body
        rm.call(f"DELETE {detail}", path={"id": mistake["id"]})


def found_over_the_api(api, reader, template, name, fallback):
    """The id of the team or vendor called ``name``, as an integration finds
    it: from the schema's list where it offers one."""
    if not api.offers(f"GET {template}"):
        return fallback
    found = {item["name"]: item["id"] for item in reader.get(template).items()}
    assert found.get(name) == fallback, (template, found)
    return found[name]


def subscribe_a_tool(rm):
    """An integration subscribed to the process's events, paused, and its delivery log read."""
    made = rm.post("/api/webhooks/", body={"url": "https://hooks.example.com/releases",
                                           "event_types": ["release.closed", "rfc.authorized"]}).body
    path = {"id": made["id"]}
    rm.patch("/api/webhooks/{id}/", path=path, body={"active": False})
    rm.get("/api/webhooks/{id}/deliveries/", path=path)


def run_tour() -> Tour:
    admin, vendor_id, secret, team_id = set_up_as_the_administrator()
    api = Api.fetch(WSGITransport(application))
    tour = Tour(api)
    anonymous = api.session("anonymous")
    people = {"anonymous": anonymous}
    for name in PEOPLE:
        token = anonymous.post("/api/auth/token/", body={"username": name, "password": PASSWORD}).body["token"]
        people[name] = api.session(name, token)
    vendor_id = found_over_the_api(api, people["rm"], "/api/vendors/", "Acme Payments", vendor_id)
    team_id = found_over_the_api(api, people["rm"], "/api/teams/", "Platform team", team_id)
    cast = Cast(people, PASSWORD, vendor_id, secret, team_id)
    cast.ids = {u["username"]: u["id"] for u in people["rm"].get("/api/users/", query={"page_size": 200}).items()}

    steps = {"minor": lambda: minor(cast), "major": lambda: major(cast),
             "emergency": lambda: emergency(cast, freeze_window_for(admin)),
             "rolled_back": lambda: rolled_back(cast),
             "changes that do not go ahead": lambda: api_tour.changes_that_do_not_go_ahead(cast),
             "CMDB and templates": lambda: api_tour.cmdb_and_templates(cast),
             "people, reports, audit": lambda: api_tour.people_reports_and_audit(cast, api)}
    for name, run in steps.items():
        try:
            tour.journeys[name] = run()
        except Exception:  # noqa: BLE001 - the tests report it, with the log
            tour.errors[name] = traceback.format_exc()
    try:
        subscribe_a_tool(people["rm"])
    except Exception:  # noqa: BLE001 - the tests report it, with the log
        tour.errors["event subscriptions"] = traceback.format_exc()
    for journey in tour.journeys.values():
        if journey is not None and getattr(journey, "release", None):
            # The deployment gate, asked about a release as a pipeline would (its query names the release:
            # the sweep below calls only operations that need no query).
            people["rm"].call("GET /api/gate/", query={"release": str(journey.release)}, note="gate")
            done = {e.operation.label for e in api.log if e.succeeded}
            api_tour.sweep(api, people["rm"], journey.release, done)
    return tour


@pytest.fixture(scope="module")
def tour(django_db_setup, django_db_blocker):
    # A cache of its own: the API's rate-limit counters start at zero.
    caches = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                          "LOCATION": f"schema-client-{uuid.uuid4().hex}"}}
    with override_settings(CACHES=caches):
        with built_once(django_db_blocker, run_tour) as built:
            yield built


def _listing(exchanges, limit=40) -> str:
    lines = [e.describe() for e in exchanges[:limit]]
    more = len(exchanges) - limit
    return "\n".join(lines) + (f"\n... and {more} more" if more > 0 else "")


def _in_order(expected: list[str], seen: list[str]) -> bool:
    it = iter(seen)
    return all(state in it for state in expected)


@pytest.mark.parametrize("name", JOURNEYS)
def test_each_release_goes_through_the_20_steps(tour, name):
    assert name not in tour.errors, f"the {name} release stopped:\n{tour.errors[name]}"
    journey = tour.journeys[name]
    path = ROLLED_BACK_PATH if name == "rolled_back" else HAPPY_PATH
    assert _in_order(path, journey.states) and journey.states[-1] == "closed", journey.states


def test_the_rest_of_what_the_schema_offers_goes_through(tour):
    stopped = {name: error for name, error in tour.errors.items() if name not in JOURNEYS}
    assert not stopped, "\n".join(f"{name}:\n{error}" for name, error in stopped.items())


def test_every_call_got_the_answer_the_suite_expected(tour):
    """A success, or one of the documented refusals the suite asks for."""
    unexpected = [e for e in tour.log if not e.expected]
    assert not unexpected, f"{len(unexpected)} of {len(tour.log)} calls were answered otherwise:\n" \
                           f"{_listing(unexpected)}"


def test_every_exchange_kept_to_the_schema(tour):
    """Statuses, content types and bodies as documented; no header the
    operation does not declare."""
    broken = [e for e in tour.log if e.problems]
    assert not broken, f"{len(broken)} of {len(tour.log)} exchanges broke the schema:\n{_listing(broken)}"


def test_no_server_error(tour):
    errors = [e for e in tour.log if e.status >= 500]
    assert not errors, _listing(errors)


def _offered(api: Api) -> dict[str, tuple]:
    """Everything the schema offers: each operation, and each value of an
    enumerated path parameter (a transition name, a metric)."""
    offered = {}
    for op in api.operations.values():
        offered[op.label] = (op, None, None)
        for name, param in op.parameters("path").items():
            for value in param.get("schema", {}).get("enum", []):
                offered[f"{op.label} {name}={value}"] = (op, name, value)
    return offered


def _succeeded(tour) -> set[str]:
    done = set()
    for e in tour.log:
        if e.succeeded:
            done.add(e.operation.label)
            done.update(f"{e.operation.label} {k}={v}" for k, v in e.path.items())
    return done


def test_everything_the_schema_offers_succeeded_at_least_once(tour):
    """An operation (or a transition) the schema offers must succeed for
    someone: one that the suite called and the server refused, or that the
    suite could not call, is listed with the answers it got."""
    offered, done = _offered(tour.api), _succeeded(tour)
    missing = sorted(set(offered) - done - set(NOT_EXERCISED))
    lines = []
    for key in missing:
        op, name, value = offered[key]
        tries = [e for e in tour.log if e.operation is op and (name is None or e.path.get(name) == value)]
        answers = sorted({f"{e.status} {(e.answer or {}).get('code', '') if isinstance(e.answer, dict) else ''}"
                          for e in tries})
        lines.append(f"{key}: " + (f"tried {len(tries)} time(s), answered {', '.join(answers)}; e.g. "
                                   f"{tries[0].describe()}" if tries else "never called"))
    assert not missing, f"{len(missing)} of {len(offered)} offers never succeeded:\n" + "\n".join(lines)


def test_what_is_not_exercised_is_still_offered_and_still_not_exercised(tour):
    offered, done = _offered(tour.api), _succeeded(tour)
    stale = [key for key in NOT_EXERCISED if key not in offered or key in done]
    assert not stale, f"remove from NOT_EXERCISED: {stale}"

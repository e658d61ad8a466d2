"""Helpers the test modules share, in one place (fixtures are in conftest.py;
the signing password and ``signed`` payloads in tests/signatures.py).

- services missing: ``IN_CI``, ``unavailable``;
- users and the cast: ``create_user``, ``make_actors``, ``grant``;
- test data: ``make_cis``, ``reach``, ``logs_of``; a world built once per
  module: ``built_once`` (under ``fast_password_hashing``);
- clients and pages: ``token_client``, ``html``, ``iso``, ``ics_events``,
  ``measure``, ``browser_login``;
- threads and sockets: ``race`` (and ``values``), ``free_port``;
- data migrations: ``migrate_to`` (with the ``back_to_the_latest_schema`` fixture).
"""
from __future__ import annotations

import contextlib
import os
import socket
import threading

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import override_settings

from tests.signatures import PASSWORD

# In CI a missing service (PostgreSQL, Redis, a browser) is a failure, not a skip.
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def unavailable(reason: str):
    """Skip on a laptop; in CI a missing service is a failure, not a skip."""
    if IN_CI:
        pytest.fail(f"{reason} (CI must provide it)")
    pytest.skip(reason)


# Real password hashing is slow on purpose; the tests create dozens of users.
FAST_PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def fast_password_hashing():
    """The cheap hasher, for what runs outside a test's own ``settings``
    (a world built once per module). Every test gets it from conftest."""
    return override_settings(PASSWORD_HASHERS=FAST_PASSWORD_HASHERS)


# --- users ---------------------------------------------------------------------------------------------------------


def create_user(username, *roles, **fields):
    """A user with the test password (they sign their decisions with it),
    an address at example.test unless ``email`` is given, and ``roles``."""
    fields.setdefault("email", f"{username}@example.test")
    user = get_user_model().objects.create_user(username=username, password=PASSWORD, **fields)
    for role in roles:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


# The cast of ``releases.scenario.Actors``, in the order they are created,
# and their usernames unless a caller names them otherwise.
ACTOR_USERNAMES = {
    "release_manager": "rm",
    "change_manager": "cm",
    "cab_members": ["cab1", "cab2", "cab3"],
    "delivery_manager": "dm",
    "build_team": "builder",
    "test_team": "tester",
    "deployment_team": "deployer",
    "configuration_manager": "confman",
    "requester": "requester",
}
ACTOR_ROLES = {"cab_members": "cab_member", "requester": "stakeholder"}


def make_actors(create, **usernames):
    """``Actors`` whose users ``create(username, role)`` makes, named after
    ``ACTOR_USERNAMES`` except where ``usernames`` says otherwise."""
    from releases.scenario import Actors

    names = {**ACTOR_USERNAMES, **usernames}
    cast = {}
    for part, default in ACTOR_USERNAMES.items():
        role = ACTOR_ROLES.get(part, part)
        if isinstance(default, list):
            cast[part] = [create(name, role) for name in names[part]]
        else:
            cast[part] = create(names[part], role)
    return Actors(**cast, password=PASSWORD)


def grant(user, *roles):
    """Give a user more roles (and drop the roles cached on the object)."""
    for role in roles:
        user.groups.add(Group.objects.get(name=role))
    user.__dict__.pop("_release_roles", None)
    return user


# --- test data -----------------------------------------------------------------------------------------------------


def logs_of(obj):
    """The transition log of ``obj`` (a release, an RFC, a task...)."""
    from releases.models import TransitionLog

    return TransitionLog.objects.filter(content_type__model=type(obj)._meta.model_name, object_id=obj.pk)


def make_cis():
    """orders-api 2.3, which depends on orders-db 14.1 (the API first)."""
    from cmdb.models import ConfigurationItem

    db_ci = ConfigurationItem.objects.create(name="orders-db", ci_type="database", version="14.1")
    api = ConfigurationItem.objects.create(name="orders-api", ci_type="application", version="2.3")
    api.depends_on.add(db_ci)
    return [api, db_ci]


def reach(actors, cis, state, *, rollback_from=None, **release_kw):
    """A new release over ``cis`` brought to ``state`` through the real
    services (rolled back on reaching ``rollback_from``): its ``Walker``."""
    from releases.scenario import Walker, new_release

    walker = Walker(new_release(actors, cis=cis, **release_kw), actors)
    walker.to(state, rollback_from=rollback_from)
    return walker


@contextlib.contextmanager
def built_once(django_db_blocker, build):
    """What ``build()`` makes, for a module-scoped fixture: built under the
    cheap hasher inside a transaction that is rolled back when the module
    ends (each test runs in a savepoint inside it).

    Requests go through the WSGI handler in this thread and connection;
    Django closes "old" connections at the start and end of each request,
    which would end the open transaction, so that is off meanwhile (as the
    test client has it)."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections, transaction

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        with django_db_blocker.unblock():
            with transaction.atomic():
                with fast_password_hashing():
                    built = build()
                yield built
                transaction.set_rollback(True)
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


# --- clients and pages ---------------------------------------------------------------------------------------------


def token_client(user=None, *, client_class=None, **defaults):
    """An API client (DRF's ``APIClient`` unless ``client_class``) made with
    ``defaults``, sending ``Authorization: Token <key>`` for ``user``;
    anonymous for ``None``."""
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    client = (client_class or APIClient)(**defaults)
    if user is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.get_or_create(user=user)[0].key}")
    return client


def html(response) -> str:
    return response.content.decode()


def iso(dt):
    """A datetime as the API writes it."""
    return dt.isoformat().replace("+00:00", "Z")


def ics_events(ics: bytes):
    """The VEVENTs of an iCalendar document, by UID."""
    from icalendar import Calendar

    return {str(c["uid"]): c for c in Calendar.from_ical(ics).walk("VEVENT")}


def measure(client, url, *, statuses=(200,)):
    """The queries and bytes of a page's second load (caches and lazily
    built state warmed by the first, as in a running server)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url)
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code in statuses, (url, response.status_code)
    return len(queries.captured_queries), len(response.content)


def browser_login(page, base_url, username, *, next_path=""):
    """Log in on the login page in a Playwright ``page``, as a person does,
    with the test password (then on to ``next_path``, if given)."""
    page.goto(base_url + "/accounts/login/" + (f"?next={next_path}" if next_path else ""))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()


# --- threads and sockets -------------------------------------------------------------------------------------------


def race(n, fn):
    """Run ``fn(i)`` for i in range(n) in n threads released at once.
    The outcomes, in the order they finished: ``("ok", value)`` or
    ``("error", exception)``. Each thread closes its database connections."""
    from django.db import connections

    barrier = threading.Barrier(n)
    outcomes = []
    lock = threading.Lock()

    def worker(i):
        try:
            barrier.wait()
            outcome = ("ok", fn(i))
        except Exception as exc:  # noqa: BLE001 - the outcome is what the test inspects
            outcome = ("error", exc)
        finally:
            connections.close_all()
        with lock:
            outcomes.append(outcome)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return outcomes


def values(outcomes):
    """The values of ``race``'s outcomes; the first error raised instead."""
    for kind, value in outcomes:
        if kind == "error":
            raise value
    return [value for _, value in outcomes]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def migrate_to(targets):
    """Migrate the test database to ``targets`` and return the apps of that
    state (historical models), for a test of a data migration."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps

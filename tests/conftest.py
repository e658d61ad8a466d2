import os
import uuid

import pytest
from django.contrib.auth.models import Group

from releasemgmt.workflow import ROLES
from releases.scenario import Actors
from tests.signatures import PASSWORD  # every user make_user creates; they sign their decisions with it

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def pytest_collection_modifyitems(config, items):
    """A test marked ``postgres`` needs PostgreSQL. Outside CI, on the SQLite
    default, it is skipped; in CI it must run, so it fails instead."""
    from django.conf import settings

    on_pg = settings.DATABASES["default"]["ENGINE"].endswith("postgresql")
    for item in items:
        if "postgres" in item.keywords and not on_pg and not IN_CI:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)"))


def pytest_runtest_setup(item):
    from django.conf import settings

    if IN_CI and "postgres" in item.keywords and not settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        pytest.fail("This test needs PostgreSQL and CI did not provide it.")


@pytest.fixture(autouse=True)
def _tasks_in_process(request):
    """Unit tests run Celery tasks in process even when CI provides a broker;
    tests marked ``real_worker`` use the broker and a worker."""
    if "real_worker" in request.keywords:
        yield
        return
    from releasemgmt.celery import app

    eager = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = eager


@pytest.fixture(autouse=True)
def _fresh_content_types():
    # Transactional tests flush and re-create content types under new ids;
    # the manager's cache would still hand out the old ones.
    from django.contrib.contenttypes.models import ContentType

    ContentType.objects.clear_cache()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    # Real hashing costs ~0.3 s a user; the tests create dozens.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fresh_cache(settings):
    # The cache holds the API rate-limit counters: each test starts with an
    # empty one of its own, so tests cannot throttle each other, and no test
    # flushes a Redis database (CI's Redis is also the Celery broker).
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": f"test-{uuid.uuid4().hex}"}}


@pytest.fixture
def make_user(django_user_model):
    counter = {"n": 0}

    def make(*roles, username=None, **fields):
        counter["n"] += 1
        name = username or f"{'-'.join(roles) or 'nobody'}-{counter['n']}"
        user = django_user_model.objects.create_user(username=name, password=PASSWORD,
                                                     email=f"{name}@example.test", **fields)
        for role in roles:
            assert role in ROLES, role
            user.groups.add(Group.objects.get_or_create(name=role)[0])
        return user

    return make


@pytest.fixture
def actors(make_user):
    return Actors(
        release_manager=make_user("release_manager", username="rm"),
        change_manager=make_user("change_manager", username="cm"),
        cab_members=[make_user("cab_member", username=f"cab{i}") for i in (1, 2, 3)],
        delivery_manager=make_user("delivery_manager", username="dm"),
        build_team=make_user("build_team", username="builder"),
        test_team=make_user("test_team", username="tester"),
        deployment_team=make_user("deployment_team", username="deployer"),
        configuration_manager=make_user("configuration_manager", username="confman"),
        requester=make_user("stakeholder", username="requester"),
        password=PASSWORD,
    )


@pytest.fixture
def cis(db):
    from cmdb.models import ConfigurationItem

    db_ci = ConfigurationItem.objects.create(name="orders-db", ci_type="database", version="14.1")
    api = ConfigurationItem.objects.create(name="orders-api", ci_type="application", version="2.3")
    api.depends_on.add(db_ci)
    return [api, db_ci]


@pytest.fixture
def make_vendor(db):
    """A vendor whose integration secret the test knows (the admin would
    generate one and show it once)."""
    from django.utils import timezone

    from releases.models import Vendor

    def make(name, *, secret="", **fields):
        vendor = Vendor(name=name, **fields)
        if secret:
            vendor.set_secret(secret, at=timezone.now())
        vendor.save()
        return vendor

    return make


@pytest.fixture
def backdate_history(db):
    """Tests that build a past (a CAB that sat three days, a quarter of
    history for a chart) move the time of transition-log rows after the
    fact. The database refuses that on PostgreSQL (the log is append-only),
    so the test lifts the triggers for its own session around its own edit
    (a database superuser's power, which the tests' database user has)."""
    import contextlib

    from django.db import connection

    @contextlib.contextmanager
    def lifted():
        if connection.vendor != "postgresql":
            yield
            return
        # Replica mode skips ordinary triggers for this session only.
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SET session_replication_role = DEFAULT")

    return lifted

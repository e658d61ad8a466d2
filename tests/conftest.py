import atexit
import shutil
import tempfile
import uuid

import pytest

from releasemgmt.workflow import ROLES
from tests.helpers import FAST_PASSWORD_HASHERS, IN_CI, create_user, make_actors, make_cis, reach


def pytest_configure(config):
    # Evidence files stored by the tests go to a directory of the run's own
    # (removed at its end), never the project's media/.
    from django.conf import settings

    settings.MEDIA_ROOT = tempfile.mkdtemp(prefix="test-media-")
    atexit.register(shutil.rmtree, settings.MEDIA_ROOT, ignore_errors=True)


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
    # Real hashing is slow on purpose, and the tests create dozens of users:
    # every test gets the cheap hasher (tests.helpers.FAST_PASSWORD_HASHERS).
    settings.PASSWORD_HASHERS = list(FAST_PASSWORD_HASHERS)


@pytest.fixture(autouse=True)
def _fresh_cache(settings):
    # The cache holds the API rate-limit counters: each test starts with an
    # empty one of its own, so tests cannot throttle each other, and no test
    # flushes a Redis database (CI's Redis is also the Celery broker).
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": f"test-{uuid.uuid4().hex}"}}


@pytest.fixture
def make_user(db):
    counter = {"n": 0}

    def make(*roles, username=None, **fields):
        """A user with ``roles``, the test password (tests.signatures) and an
        address at example.test; named after its roles unless ``username``."""
        counter["n"] += 1
        name = username or f"{'-'.join(roles) or 'nobody'}-{counter['n']}"
        for role in roles:
            assert role in ROLES, role
        return create_user(name, *roles, **fields)

    return make


@pytest.fixture
def staff(make_user):
    """``staff(*roles, **fields)``: ``make_user`` for a user who may open the admin."""

    def make(*roles, **fields):
        return make_user(*roles, is_staff=True, **fields)

    return make


@pytest.fixture
def actors(make_user):
    """The cast of a release (rm, cm, cab1-3, dm, builder, tester, deployer,
    confman, requester)."""
    return make_actors(lambda username, role: make_user(role, username=username))


@pytest.fixture
def cis(db):
    return make_cis()


@pytest.fixture
def rolled_back(actors, cis):
    """Release "Orders 2.4", rolled back after its deployment (what a problem record starts from)."""
    return reach(actors, cis, "rolled_back", rollback_from="deployed", title="Orders 2.4").release


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


@pytest.fixture
def back_to_the_latest_schema():
    """After a migration test: the schema every other test expects."""
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor

    yield
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())

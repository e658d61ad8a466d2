"""The release list's page count is kept until what it counts changes
(releases.counts): a repeated poll skips the count query, and any change to
the rows a filter or the caller's visibility reads shows in the next one."""
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from changes.models import ChangeRequest
from releases.models import Release, ReleaseScopeItem, Task, Vendor

pytestmark = pytest.mark.django_db


def count_and_queries(client, path):
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(path)
    assert response.status_code == 200, response.content
    counted = any(q["sql"].startswith("SELECT COUNT(*)") for q in ctx.captured_queries)
    return response.json()["count"], counted


@pytest.fixture
def world(make_user, client_for, cis):
    rm = make_user("release_manager")
    requester = make_user("stakeholder")
    rfc = ChangeRequest.objects.create(title="rfc", description="d", requester=requester, state="authorized")
    releases = [Release.objects.create(title=f"r{i}", release_type="minor", release_manager=rm,
                                       state="closed" if i % 2 else "planning") for i in range(6)]
    return rm, client_for(rm), releases, rfc


def test_a_repeated_poll_does_not_count_again(world):
    _, client, _, _ = world
    assert count_and_queries(client, "/api/releases/?state=closed") == (3, True)
    assert count_and_queries(client, "/api/releases/?state=closed") == (3, False)
    assert count_and_queries(client, "/api/releases/?state=planning") == (3, True)  # another filter, another count


def test_changes_to_what_is_counted_show_in_the_next_poll(world, cis, django_capture_on_commit_callbacks):
    rm, client, releases, rfc = world
    path = "/api/releases/?state=closed"
    assert count_and_queries(client, path)[0] == 3
    with django_capture_on_commit_callbacks(execute=True):
        Release.objects.create(title="new", release_type="minor", release_manager=rm, state="closed")
    assert count_and_queries(client, path) == (4, True)

    by_rfc = f"/api/releases/?rfc={rfc.pk}"
    assert count_and_queries(client, by_rfc)[0] == 0
    releases[0].rfcs.add(rfc)
    assert count_and_queries(client, by_rfc)[0] == 1

    by_ci = f"/api/releases/?ci={cis[0].pk}"
    assert count_and_queries(client, by_ci)[0] == 0
    ReleaseScopeItem.objects.create(release=releases[1], ci=cis[0], target_version="2.4")
    assert count_and_queries(client, by_ci)[0] == 1

    releases[2].delete()
    assert count_and_queries(client, "/api/releases/")[0] == 6


def test_each_caller_gets_the_count_of_what_they_may_see(world, make_user, client_for):
    rm, client, releases, _ = world
    vendor_user = make_user("vendor")
    vendor = Vendor.objects.create(name="Acme")
    vendor.users.add(vendor_user)
    Task.objects.create(release=releases[0], title="Acme work", step=4, assignee_vendor=vendor)
    assert count_and_queries(client, "/api/releases/")[0] == 6
    as_vendor = client_for(vendor_user)
    assert count_and_queries(as_vendor, "/api/releases/")[0] == 1
    Task.objects.create(release=releases[1], title="More Acme work", step=4, assignee_vendor=vendor)
    assert count_and_queries(as_vendor, "/api/releases/")[0] == 2
    assert count_and_queries(client, "/api/releases/")[0] == 6


def test_the_list_works_with_the_cache_down(world, settings):
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                   "LOCATION": "redis://127.0.0.1:1/0",
                                   "OPTIONS": {"socket_connect_timeout": 0.2, "socket_timeout": 0.2}}}
    _, client, _, _ = world
    assert count_and_queries(client, "/api/releases/?state=closed") == (3, True)
    assert count_and_queries(client, "/api/releases/?state=closed") == (3, True)

"""The release list reads rows and writes them with
``release_representation`` instead of DRF's field-by-field serializer (for
speed: bench/README.md). These tests hold that output to what the declared
``ReleaseSerializer`` fields would write, field for field, in the list, the
detail and the response to a write."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone as dt_timezone

import pytest
from django.utils import timezone
from rest_framework import serializers

from changes.models import ChangeRequest
from releases.api.serializers import ReleaseSerializer
from releases.models import Release, ReleasePlan, ReleaseTemplate

pytestmark = pytest.mark.django_db


def drf_generic(release: Release) -> dict:
    """What ModelSerializer itself writes for the declared fields."""
    fresh = Release.objects.prefetch_related("rfcs").get(pk=release.pk)
    data = serializers.ModelSerializer.to_representation(ReleaseSerializer(), fresh)
    return json.loads(json.dumps(data))


@pytest.fixture
def releases(make_user):
    rm = make_user("release_manager")
    requester = make_user("stakeholder")
    base = datetime(2026, 3, 29, 0, 30, 15, 123456, tzinfo=dt_timezone.utc)  # a DST change in Europe
    # RFCs created out of id order: the list keeps the RFCs' own ordering.
    rfcs = []
    for i, minutes in enumerate((5, 50, 20)):
        rfc = ChangeRequest.objects.create(title=f"rfc {i}", description="d", requester=requester,
                                           state="authorized")
        rfc.created_at = base + timedelta(minutes=minutes)
        rfc.save(update_fields=["created_at"])
        rfcs.append(rfc)
    template = ReleaseTemplate.objects.create(name="Monthly minor", release_type="minor")
    full = Release.objects.create(title="Säkerhet, \"quoted\" & <tagged>", description="line 1\nline 2",
                                  release_type="major", release_manager=rm, state="plan_submitted",
                                  planned_start=base, planned_end=base + timedelta(days=2, microseconds=1),
                                  acceptance_criteria="All green.", template=template)
    full.rfcs.set(rfcs)
    plan = ReleasePlan.objects.create(release=full, version=1, created_by=rm, created_in_state="planning")
    full.approved_plan = plan
    full.save(update_fields=["approved_plan"])
    bare = Release.objects.create(title="bare", release_type="emergency", release_manager=rm, state="new")
    bare.rfcs.set(rfcs[:1])
    none_linked = Release.objects.create(title="no rfcs yet", release_type="minor", release_manager=rm)
    return rm, [full, bare, none_linked]


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "America/St_Johns"])
def test_list_and_detail_write_what_the_declared_fields_would(releases, client_for, zone):
    rm, items = releases
    client = client_for(rm)
    with timezone.override(zone):
        expected = {r.pk: drf_generic(r) for r in items}
    with timezone.override(zone):  # the requests run in this thread, in the same current time zone
        listed = {row["id"]: row for row in client.get("/api/releases/?page_size=200").json()["results"]}
        for release in items:
            assert listed[release.pk] == expected[release.pk]
            assert client.get(f"/api/releases/{release.pk}/").json() == expected[release.pk]
    full = items[0]
    assert expected[full.pk]["rfcs"] == [r.pk for r in full.rfcs.order_by("-created_at", "-id")]
    assert expected[full.pk]["rfcs"] != sorted(expected[full.pk]["rfcs"])  # the order is really tested
    assert expected[full.pk]["approved_plan"] and expected[full.pk]["template"]


def test_filtered_list_and_write_responses_match(releases, client_for):
    rm, items = releases
    client = client_for(rm)
    rows = client.get("/api/releases/?state=plan_submitted&release_type=major").json()
    assert rows["count"] == 1 and rows["results"] == [drf_generic(items[0])]
    response = client.patch(f"/api/releases/{items[2].pk}/", {"title": "renamed"}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == drf_generic(items[2]) and response.json()["title"] == "renamed"


def test_detail_of_an_unknown_or_malformed_id_is_404_and_carries_the_etag_otherwise(releases, client_for):
    from releasemgmt.api import etag_for

    rm, items = releases
    client = client_for(rm)
    for bad in ("999999", "abc", "1e3"):
        response = client.get(f"/api/releases/{bad}/")
        assert response.status_code == 404, (bad, response.content)
        assert response.json()["code"] == "not_found"
    response = client.get(f"/api/releases/{items[0].pk}/")
    assert response["ETag"] == etag_for(Release.objects.get(pk=items[0].pk))
    # A row addressed by its id is not subject to the list's query filters.
    assert client.get(f"/api/releases/{items[0].pk}/?state=closed").status_code == 200


@pytest.mark.parametrize("zone", ["UTC", "America/St_Johns"])
def test_task_list_writes_what_the_declared_fields_would(releases, client_for, make_user, zone):
    from releases.api.serializers import TaskSerializer
    from releases.models import Task, Team, Vendor

    rm, items = releases
    team, vendor = Team.objects.create(name="Ops"), Vendor.objects.create(name="Acme")
    start = datetime(2026, 10, 25, 0, 59, 59, 999999, tzinfo=dt_timezone.utc)
    tasks = [
        Task.objects.create(release=items[0], title="Build, \"quoted\"", description="two\nlines", step=5,
                            assignee_user=rm, planned_start=start, planned_end=start + timedelta(hours=3),
                            vendor_ticket_ref="VT-1"),
        Task.objects.create(release=items[0], title="Team work", step=12, assignee_team=team),
        Task.objects.create(release=items[1], title="Vendor work", step=4, assignee_vendor=vendor,
                            planned_start=start),
    ]
    client = client_for(rm)
    with timezone.override(zone):
        expected = [json.loads(json.dumps(serializers.ModelSerializer.to_representation(TaskSerializer(), t)))
                    for t in Task.objects.filter(pk__in=[t.pk for t in tasks]).order_by("-id")]
        listed = client.get("/api/tasks/").json()["results"]
        detail = client.get(f"/api/tasks/{tasks[0].pk}/").json()
    assert listed == expected
    assert detail == expected[-1]

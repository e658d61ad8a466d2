"""/metrics for Prometheus: who may read it, request latency by route,
transitions per name, and the outbox's backlog as the relay stops and
resumes."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.test import override_settings
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from releasemgmt.workflow import name_of
from releases.models import OutboxMessage, Release
from releases.scenario import Walker, new_release

pytestmark = pytest.mark.django_db


def scrape(client, **extra) -> dict:
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.status_code
    samples = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, metric, **labels):
    return samples.get((metric, tuple(sorted(labels.items()))), 0.0)


def test_only_the_allowed_networks_or_the_token_may_read_it(client):
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 404
    with override_settings(METRICS_ALLOWED_NETWORKS=["10.0.0.0/8"]):
        assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    with override_settings(METRICS_TOKEN="scrape-me"):
        assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 404  # a token set: the token only
        assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404
        ok = client.get("/metrics", REMOTE_ADDR="10.1.2.3", HTTP_AUTHORIZATION="Bearer scrape-me")
        assert ok.status_code == 200 and ok["Content-Type"].startswith("text/plain")


def test_requests_are_timed_by_route_not_by_path(client, actors, cis):
    release = new_release(actors, cis=cis)
    client.force_login(actors.release_manager)
    before = scrape(client)
    client.get(f"/releases/{release.pk}/")
    client.get("/releases/999999/")
    after = scrape(client)
    count = "releasemgmt_request_seconds_count"
    route = "releases/<int:pk>/"
    assert value(after, count, route=route, method="GET", status="2xx") == value(
        before, count, route=route, method="GET", status="2xx") + 1
    assert value(after, count, route=route, method="GET", status="4xx") == value(
        before, count, route=route, method="GET", status="4xx") + 1
    assert not any(f"/releases/{release.pk}/" in str(labels) for _, labels in after)


def test_transitions_are_counted_when_they_commit(client, actors, cis, django_capture_on_commit_callbacks):
    release = new_release(actors, cis=cis)
    name = name_of(Release.start_planning)
    before = value(scrape(client), "releasemgmt_transitions_total", model="releases.release", name=name)
    with django_capture_on_commit_callbacks(execute=True):
        Walker(release, actors).to("planning")
    after = value(scrape(client), "releasemgmt_transitions_total", model="releases.release", name=name)
    assert after == before + 1


def test_the_outbox_backlog_rises_while_no_relay_runs_and_falls_when_it_does(client, actors, cis, mailoutbox):
    from notifications.tasks import deliver_outbox

    release = new_release(actors, cis=cis)
    ct = ContentType.objects.get_for_model(Release)
    waiting = value(scrape(client), "releasemgmt_outbox_backlog")  # what raising the RFC announced, if anything
    for i in range(3):
        OutboxMessage.objects.create(event="test", release=release, content_type=ct, object_id=release.pk,
                                     recipient=f"p{i}@example.com", subject="s", body="b", dedupe_key=f"m-{i}")
    OutboxMessage.objects.filter(dedupe_key="m-0").update(created_at=timezone.now() - timedelta(minutes=10))
    stopped = scrape(client)
    assert value(stopped, "releasemgmt_outbox_backlog") == waiting + 3
    assert value(stopped, "releasemgmt_outbox_oldest_pending_seconds") >= 600
    deliver_outbox()
    resumed = scrape(client)
    assert value(resumed, "releasemgmt_outbox_backlog") == 0
    assert value(resumed, "releasemgmt_outbox_oldest_pending_seconds") == 0
    assert len(mailoutbox) == waiting + 3

"""Date-time filters: any ISO 8601 value is a 400 or a result, never a 500
(PostgreSQL refuses UTC offsets beyond ±15:59 that ISO 8601 allows)."""
import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("url", [
    "/api/releases/?planned_before={}", "/api/releases/?planned_after={}", "/api/tasks/?due_after={}",
    "/api/rfcs/?created_before={}", "/api/calendar/?start={}",
])
def test_out_of_range_offsets_are_a_400_and_fine_ones_work(actors, url):
    client = APIClient()
    client.force_authenticate(actors.release_manager)
    bad = client.get(url.format("0409-11-15T00:48:07-18:27"))
    assert bad.status_code == 400, bad.content
    good = client.get(url.format("2026-11-15T00:48:07%2B05:30"))
    assert good.status_code == 200, good.content
    old = client.get(url.format("0026-04-01T11:19:14Z"))
    assert old.status_code in (200, 400), old.content

"""GET /api/metrics/ and /api/metrics/{metric}.csv: the figures of
tests/test_metrics.py over HTTP, with the filters, the 400s, and who may read."""
from __future__ import annotations

import csv
import io

import pytest

from tests.test_metrics import PERIOD, build_world

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(make_user):
    return build_world(make_user("release_manager"))


def test_all_figures_as_json(world, client_for, make_user):
    response = client_for(make_user("stakeholder")).get("/api/metrics/", PERIOD)
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["period"] == {"from": "2026-03-02T00:00:00Z", "to": "2026-03-30T00:00:00Z", "days": 28.0}
    assert body["filters"]["type"] is None
    assert body["deployment_frequency"]["deployed"] == 3
    assert body["deployment_frequency"]["weeks"][1] == {"week": "2026-03-09", "deployed": 2}
    assert body["change_failure_rate"] == {"deployments": 4, "failed": 2, "rate_percent": 50.0}
    assert body["time_to_restore"] == {"count": 2, "median_hours": 1.0, "p90_hours": 1.4}
    assert body["lead_time"]["median_hours"] == 147.5
    assert body["cab_cycle_time"]["approved"] == 4 and body["cab_cycle_time"]["rejected"] == 1
    assert body["on_time"]["rate_percent"] == 66.7
    assert body["go_no_go"] == {"go": 4, "no_go": 1, "go_percent": 80.0}
    assert body["tasks"] == {"overdue": 2, "completed": 2, "completed_late": 1}
    planning = [r for r in body["time_in_step"] if (r["release_type"], r["state"]) == ("minor", "planning")]
    assert planning[0]["target_hours"] == 120.0 and planning[0]["count"] == 4


def test_filters(world, client_for):
    client = client_for(world.user)
    minor = client.get("/api/metrics/", {**PERIOD, "type": "minor"}).json()
    assert minor["filters"]["type"] == "minor"
    assert minor["deployment_frequency"]["deployed"] == 2
    acme = client.get("/api/metrics/", {**PERIOD, "vendor": world.vendor.pk}).json()
    assert acme["tasks"] == {"overdue": 0, "completed": 1, "completed_late": 1}
    team = client.get("/api/metrics/", {**PERIOD, "team": world.teams["Build"].pk}).json()
    assert team["lead_time"]["count"] == 2
    ci = client.get("/api/metrics/", {**PERIOD, "ci": world.cis["payments-api"].pk}).json()
    assert ci["cab_cycle_time"]["median_hours"] == 48.0


@pytest.mark.parametrize("params, field", [
    ({"from": "2026-03-10", "to": "2026-03-01"}, "from"),
    ({"type": "hotfix"}, "type"),
    ({"team": "abc"}, "team"),
    ({"ci": "99999999999999999999999999"}, "ci"),
    ({"vendor": "424242"}, "vendor"),
    ({"to": "31/03/2026"}, "to"),
])
@pytest.mark.parametrize("path", ["/api/metrics/", "/api/metrics/lead_time.csv"])
def test_invalid_filters_get_400_with_the_reason(client_for, make_user, params, field, path):
    response = client_for(make_user("change_manager")).get(path, params)
    assert response.status_code == 400, response.content
    assert response.json()[field][0]


def test_anonymous_gets_401_and_a_vendor_403(client_for, make_user):
    assert client_for(None).get("/api/metrics/").status_code == 401
    assert client_for(None).get("/api/metrics/lead_time.csv").status_code == 401
    vendor = make_user("vendor")
    for path in ("/api/metrics/", "/api/metrics/lead_time.csv"):
        response = client_for(vendor).get(path, {"type": "hotfix"})  # refused before the filters are read
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"
    assert client_for(make_user("vendor", "stakeholder")).get("/api/metrics/").status_code == 200
    assert client_for(make_user()).get("/api/metrics/").status_code == 403  # no role at all


def _csv(response):
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_one_metric_as_csv(world, client_for):
    client = client_for(world.user)
    assert _csv(client.get("/api/metrics/deployment_frequency.csv", PERIOD)) == [
        ["week_starting", "deployed"], ["2026-03-02", "1"], ["2026-03-09", "2"], ["2026-03-16", "0"],
        ["2026-03-23", "0"]]
    rows = _csv(client.get("/api/metrics/change_failure_rate.csv", {**PERIOD, "type": "minor"}))
    assert rows == [["figure", "value"], ["deployments", "2"], ["failed", "1"], ["rate_percent", "50.0"]]
    steps = _csv(client.get("/api/metrics/time_in_step.csv", PERIOD, HTTP_ACCEPT="text/csv"))
    assert ["minor", "planning", "2", "4", "1.5", "17.4", "120.0", "0", "0.0"] in steps
    empty = _csv(client.get("/api/metrics/lead_time.csv", {"from": "2025-01-01", "to": "2025-01-31"}))
    assert empty == [["figure", "value"], ["count", "0"], ["median_hours", ""], ["p90_hours", ""]]


def test_an_unknown_metric_is_404(client_for, make_user):
    response = client_for(make_user("stakeholder")).get("/api/metrics/velocity.csv")
    assert response.status_code == 404
    assert "lead_time" in response.json()["detail"]


def test_query_count_is_fixed(world, client_for, django_assert_max_num_queries):
    client = client_for(world.user)
    client.get("/api/metrics/", PERIOD)  # warm the content type cache
    with django_assert_max_num_queries(16):
        assert client.get("/api/metrics/", {**PERIOD, "team": world.teams["Build"].pk}).status_code == 200

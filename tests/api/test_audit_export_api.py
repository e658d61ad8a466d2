"""GET /api/audit/evidence/: who may export, the CSV it answers, and the 400
that bad ranges get before anything is written."""
from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.utils import timezone

from audit import export as ax
from audit.forms import MAX_RANGE_DAYS, EvidenceRangeForm

from ..test_audit_export import _world, actors, cis, world  # noqa: F401  (the module-scoped world)

pytestmark = pytest.mark.django_db

URL = "/api/audit/evidence/"


def today():
    return timezone.now().date()


def params(start=None, end=None):
    return {"from": str(start or today() - timedelta(days=1)), "to": str(end or today())}


def body(response) -> str:
    return b"".join(response.streaming_content).decode("utf-8")


def test_anonymous_gets_401(client_for):
    response = client_for(None).get(URL, params())
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


@pytest.mark.parametrize("role", ["stakeholder", "cab_member", "delivery_manager", "test_team", "vendor"])
def test_other_roles_get_403_whatever_they_send(client_for, make_user, role):
    client = client_for(make_user(role))
    for query in (params(), {"from": "nonsense"}):
        response = client.get(URL, query)
        assert response.status_code == 403
        assert response.json()["code"] == "forbidden"
        assert "change manager or release manager" in response.json()["detail"]
        assert "Content-Disposition" not in response


@pytest.mark.parametrize("who", ["release_manager", "change_manager", "superuser"])
def test_managers_and_superusers_download_the_csv(client_for, world, django_user_model, who):  # noqa: F811
    user = (django_user_model.objects.create_superuser("root", "root@example.test", "pw-test-12345")
            if who == "superuser" else getattr(world["actors"], who))
    response = client_for(user).get(URL, params())
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    start, end = today() - timedelta(days=1), today()
    assert response["Content-Disposition"] == f'attachment; filename="audit-evidence_{start}_{end}.csv"'
    assert response["Cache-Control"] == "no-store"
    text = body(response)
    form = EvidenceRangeForm(params())
    assert form.is_valid()
    assert text == "".join(ax.evidence_csv(*form.bounds()))
    rows = list(csv.DictReader(io.StringIO(text.removeprefix(ax.BOM))))
    assert {world[k].number for k in ("closed", "rolled", "sod")} <= {r["release_number"] for r in rows}


def test_a_client_asking_for_csv_only_gets_it_and_its_errors_as_json(client_for, world):  # noqa: F811
    client = client_for(world["actors"].change_manager)
    ok = client.get(URL, params(), HTTP_ACCEPT="text/csv")
    assert ok.status_code == 200 and body(ok).startswith(ax.BOM + "release_number,")
    bad = client.get(URL, {"from": "2026-03-02", "to": "2026-03-01"}, HTTP_ACCEPT="text/csv")
    assert bad.status_code == 400 and bad["Content-Type"] == "application/json"
    assert "to" in bad.json()


@pytest.mark.parametrize("query, field, words", [
    ({}, "from to", "required"),
    ({"from": "2026-01-01"}, "to", "required"),
    ({"from": "2026-02-30", "to": "2026-03-01"}, "from", "not a date"),
    ({"from": "2026-13-01", "to": "2027-01-01"}, "from", "not a date"),
    ({"from": "yesterday", "to": "2026-03-01"}, "from", "YYYY-MM-DD"),
    ({"from": "2026-01-01T00:00:00Z", "to": "2026-03-01"}, "from", "YYYY-MM-DD"),
    ({"from": "2026-03-01", "to": "2026-1-1"}, "to", "YYYY-MM-DD"),
    ({"from": "2026-03-02", "to": "2026-03-01"}, "to", "before the first day"),
    ({"from": "2020-01-01", "to": "2026-01-04"}, "to", "five years"),
])
def test_bad_ranges_get_400_naming_the_parameter(client_for, world, query, field, words):  # noqa: F811
    response = client_for(world["actors"].release_manager).get(URL, query)
    assert response.status_code == 400
    assert "Content-Disposition" not in response
    body = response.json()
    assert isinstance(body.pop("detail"), str) and isinstance(body.pop("code"), str)  # the error object
    errors = body
    assert sorted(errors) == field.split()
    assert all(words in " ".join(errors[name]) for name in errors)


def test_five_years_less_a_day_is_allowed(client_for, world):  # noqa: F811
    start = today() - timedelta(days=MAX_RANGE_DAYS - 1)
    response = client_for(world["actors"].release_manager).get(URL, params(start, today()))
    assert response.status_code == 200


def test_the_schema_documents_the_endpoint(client_for, world):  # noqa: F811
    spec = client_for(world["actors"].release_manager).get("/api/schema/", HTTP_ACCEPT="application/json").json()
    operation = spec["paths"][URL]["get"]
    assert set(operation["responses"]["200"]["content"]) == {"text/csv"}
    assert {"400", "401", "403"} <= set(operation["responses"])
    parameters = {p["name"]: p for p in operation["parameters"]}
    for name in ("from", "to"):
        assert parameters[name]["required"] is True
        assert parameters[name]["schema"] == {"type": "string", "format": "date"}
    assert all(column in operation["description"] for column in ax.COLUMNS)

"""Ids are whole numbers from 1 to the bigint maximum, wherever they come
in: a filter, a relation field of a body, a path, a hand-read parameter, a
form of the UI or the admin. Anything else (a float, ``1e999``, NaN, a
number beyond 64 bits) is a 400 "not a valid id" before the database is
asked (or a 404 in a path), never a 500 and never a quietly empty list.
One function decides: ``releasemgmt.input_guard.parse_id``."""
from __future__ import annotations

from functools import partial

import pytest
from django_filters import NumberFilter
from drf_spectacular.generators import SchemaGenerator
from rest_framework.relations import ManyRelatedField, RelatedField

from releasemgmt.api import IdRelatedField
from releasemgmt.filters import IdFilter, IntegerFilter
from releasemgmt.input_guard import ID_MAX, parse_id
from releases.models import Release, Task
from releases.scenario import authorised_rfc, new_release

from .clients import Client, token_client as https_token_client

pytestmark = pytest.mark.django_db

BIG = "99999999999999999999999"
NOT_IDS = [BIG, "-19483179219497771104236423371359780864", str(ID_MAX + 1), "1e999", "NaN", "1.5", "-1", "²"]


# Errors come back as the client sees them (a 500 included), not raised into the test.
token_client = partial(https_token_client, raise_request_exception=False)


def assert_not_an_id(response, field):
    assert response.status_code == 400, (response.status_code, response.content[:300])
    body = response.json()
    assert body["code"] == "invalid_id" and "not a valid id" in body["detail"], body
    assert "not a valid id" in str(body[field]), body


# --- the rule -----------------------------------------------------------------------------


@pytest.mark.parametrize("value, expected", [
    (1, 1), ("42", 42), (" 7 ", 7), (ID_MAX, ID_MAX), (str(ID_MAX), ID_MAX),
    (0, None), (-1, None), (ID_MAX + 1, None), (True, None), (1.0, None), (float("nan"), None),
    ("1e999", None), ("NaN", None), ("1.0", None), ("", None), ("²", None), ("١", None), (None, None),
    ("9" * 5000, None),
])
def test_what_is_an_id(value, expected):
    assert parse_id(value) == expected


# --- filters ------------------------------------------------------------------------------


def _list_filtersets():
    """(list path, FilterSet) of every API list with a filterset."""
    out = []
    for path, method, view in _endpoints():
        filterset = getattr(view, "filterset_class", None)
        if method == "GET" and filterset and "{" not in path:
            out.append((path, filterset))
    return out


def _endpoints():
    """(path, method, view) of every operation of the API."""
    generator = SchemaGenerator()
    generator._initialise_endpoints()
    return [(path, method, generator.create_view(callback, method))
            for path, _regex, method, callback in generator.endpoints]


LISTS = _list_filtersets()
ID_FILTERS = [(path, name) for path, fs in LISTS for name, f in fs.base_filters.items() if isinstance(f, IdFilter)]


def test_every_number_filter_is_an_id_or_a_whole_number():
    assert len(LISTS) >= 6 and len(ID_FILTERS) >= 12
    for path, filterset in LISTS:
        for name, f in filterset.base_filters.items():
            if isinstance(f, NumberFilter):
                assert isinstance(f, (IdFilter, IntegerFilter)), (path, name, type(f))


@pytest.mark.parametrize("path, name", ID_FILTERS, ids=[f"{p}?{n}" for p, n in ID_FILTERS])
def test_an_id_filter_refuses_what_is_not_an_id(actors, path, name):
    client = token_client(actors.release_manager)
    for value in NOT_IDS:
        assert_not_an_id(client.get(path, {name: value}), name)
    assert client.get(path, {name: "1"}).status_code == 200


def test_the_tasks_filter_of_the_report(actors):
    response = token_client(actors.release_manager).get(
        "/api/tasks/?assignee_user=-19483179219497771104236423371359780864")
    assert_not_an_id(response, "assignee_user")


@pytest.mark.parametrize("param", ["team", "ci", "release"])
def test_the_calendar_refuses_what_is_not_an_id(actors, param):
    client = token_client(actors.release_manager)
    for value in ("²", "1e999", BIG):
        response = client.get("/api/calendar/", {param: value})
        assert response.status_code == 400, (value, response.content)
        assert "not a valid id" in str(response.json()[param])


# --- relation fields ----------------------------------------------------------------------------


@pytest.mark.parametrize("rfcs", [[int(BIG)], [1e300], [1.5], [True], ["1e999"], [-1], [2**64]])
def test_a_relation_field_refuses_what_is_not_an_id(actors, rfcs):
    client = token_client(actors.release_manager)
    response = client.post("/api/releases/", {"title": "x", "release_type": "minor", "rfcs": rfcs}, format="json")
    assert_not_an_id(response, "rfcs")
    assert not Release.objects.exists()


def test_a_single_relation_field_refuses_what_is_not_an_id(actors):
    release = new_release(actors)
    client = token_client(actors.release_manager)
    for field in ("assignee_user", "assignee_team", "assignee_vendor"):
        response = client.post("/api/tasks/", {"release": release.pk, "title": "t", "step": 4, field: BIG},
                               format="json")
        assert_not_an_id(response, field)
    assert_not_an_id(client.post("/api/tasks/", {"release": 1.5, "title": "t", "step": 4}, format="json"),
                     "release")
    assert not Task.objects.filter(title="t").exists()


def test_every_relation_field_of_the_api_is_an_id_field():
    """The rule holds for serializers written later too: every relation
    field of every request body the API documents is an IdRelatedField."""
    checked = 0
    for path, method, view in _endpoints():
        if method not in ("POST", "PUT", "PATCH") or not hasattr(view, "get_serializer_class"):
            continue
        try:
            serializer = view.get_serializer_class()()
        except (AssertionError, AttributeError, TypeError):
            continue
        stack = [serializer]
        while stack:
            current = stack.pop()
            for name, field in current.fields.items():
                if isinstance(field, ManyRelatedField):
                    field = field.child_relation
                if isinstance(field, RelatedField):
                    checked += 1
                    assert isinstance(field, IdRelatedField), (method, path, name, type(field))
                child = getattr(field, "child", None)
                if hasattr(child, "fields"):
                    stack.append(child)
                elif hasattr(field, "fields"):
                    stack.append(field)
    assert checked >= 10


# --- paths ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [f"/api/releases/{BIG}/", f"/api/releases/{BIG}/transitions/",
                                  f"/api/releases/{BIG}/plans/", f"/api/rfcs/{BIG}/", f"/api/tasks/{BIG}/",
                                  f"/api/cis/{BIG}/", f"/api/users/{BIG}/", "/api/releases/1e999/"])
def test_a_path_id_out_of_range_is_a_404(actors, path):
    response = token_client(actors.release_manager).get(path)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_a_record_path_id_out_of_range_is_a_404(actors):
    release = new_release(actors)
    response = token_client(actors.release_manager).get(f"/api/releases/{release.pk}/plans/{BIG}/")
    assert response.status_code == 404


# --- the browser UI and the admin ------------------------------------------------------------------


def test_the_task_board_ignores_a_release_that_is_not_an_id(actors):
    client = Client()
    client.force_login(actors.release_manager)
    for value in ("²", BIG, "1e999"):
        assert client.get("/tasks/", {"release": value}).status_code == 200


def test_a_ui_form_says_not_a_valid_id(actors):
    client = Client()
    client.force_login(actors.release_manager)
    response = client.post("/releases/new/", {"title": "x", "release_type": "minor", "rfcs": [BIG]})
    assert response.status_code == 400
    assert "is not a valid id" in response.content.decode()
    assert not Release.objects.exists()


def test_the_reports_filters_refuse_what_is_not_an_id(actors):
    client = Client()
    client.force_login(actors.release_manager)
    response = client.get("/reports/", {"team": BIG, "vendor": "1e999"})
    assert response.status_code == 400
    page = response.content.decode()
    assert page.count("is not a valid id") == 4  # each beside its field, and in the error summary
    assert 'href="#id_team"' in page


@pytest.fixture
def admin_client(actors, django_user_model):
    client = Client()
    client.force_login(django_user_model.objects.create_superuser("root", "root@example.test", "pw-root-12345"))
    return client


def test_admin_forms_say_not_a_valid_id(actors, admin_client):
    rfc = authorised_rfc(actors, "Change")
    response = admin_client.post("/admin/releases/release/add/", {
        "title": "x", "release_type": "minor", "rfcs": [str(rfc.pk), BIG], "release_manager": "1.5"})
    assert response.status_code == 200  # the form again, with its errors
    page = response.content.decode()
    assert page.count("is not a valid id") == 2
    assert not Release.objects.exists()
    release = new_release(actors)
    response = admin_client.post("/admin/releases/task/add/", {"release": BIG, "title": "t", "step": "4"})
    assert response.status_code == 200 and "is not a valid id" in response.content.decode()
    assert not Task.objects.filter(title="t").exists()
    assert release.pk


@pytest.mark.parametrize("query", [f"release_manager__id__exact={BIG}", "release_manager__id__exact=1e999",
                                   f"id__in=1,{BIG}", "rfcs__id__exact=NaN"])
def test_an_admin_list_lookup_on_an_id_refuses_what_is_not_an_id(admin_client, query):
    response = admin_client.get(f"/admin/releases/release/?{query}")
    assert response.status_code == 400
    assert "is not a valid id" in response.content.decode()


def test_admin_list_lookups_with_ids_still_filter(actors, admin_client):
    release = new_release(actors)
    page = admin_client.get(f"/admin/releases/release/?release_manager__id__exact={actors.release_manager.pk}")
    assert page.status_code == 200 and release.title in page.content.decode()


def test_admin_pages_with_ids_out_of_range_are_not_errors(actors, admin_client):
    for path in (f"/admin/releases/release/{BIG}/change/", f"/admin/releases/release/{BIG}/history/",
                 f"/admin/releases/release/{BIG}/history/{BIG}/"):
        assert admin_client.get(path).status_code in (302, 404), path

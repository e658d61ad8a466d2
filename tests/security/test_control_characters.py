"""A NUL or another control character in a path or a query string is a
400, refused in one place (``releasemgmt.input_guard.InputGuardMiddleware``)
and answered in the door's language: the API's error object, a page for
the UI and the admin, plain text for a calendar feed. PostgreSQL refuses a
NUL in a string; before this, each of these was a 500."""
from __future__ import annotations

from functools import partial

import pytest
from rest_framework import exceptions

from releasemgmt.api import exception_handler
from releases.models import CalendarToken

from .clients import APIClient, Client, token_client as https_token_client

pytestmark = pytest.mark.django_db


# Errors come back as the client sees them (a 500 included), not raised into the test.
token_client = partial(https_token_client, raise_request_exception=False)


def page_client(user) -> Client:
    client = Client(raise_request_exception=False)
    client.force_login(user)
    return client


def assert_api_refusal(response, name="ci", char="U+0000"):
    assert response.status_code == 400, (response.status_code, response.content[:300])
    body = response.json()
    assert body["code"] == "invalid_character", body
    assert name in body["detail"] and char in body["detail"], body


@pytest.mark.parametrize("path", ["/api/metrics/?ci=a%00b", "/api/releases/?ci=a%00b", "/api/rfcs/?search=a%00b",
                                  "/api/cis/?search=%00", "/api/releases/?ordering=%00",
                                  "/api/metrics/lead_time.csv?ci=a%00b", "/api/calendar/?start=%00",
                                  "/api/audit/evidence/?from=%00"])
def test_a_nul_in_an_api_query_is_the_error_object(actors, path):
    name = path.split("?")[1].split("=")[0]
    assert_api_refusal(token_client(actors.release_manager).get(path), name)


def test_a_nul_in_search_answers_the_error_object_not_a_bare_list(actors):
    response = token_client(actors.release_manager).get("/api/rfcs/", {"search": "a\x00b"})
    assert response.status_code == 400
    assert isinstance(response.json(), dict)
    assert_api_refusal(response, "search")


@pytest.mark.parametrize("char, shown", [("\x1b", "U+001B"), ("\x7f", "U+007F"), ("\x85", "U+0085"),
                                         ("\n", "U+000A"), ("\t", "U+0009")])
def test_other_control_characters_in_a_query_are_refused_too(actors, char, shown):
    assert_api_refusal(token_client(actors.release_manager).get("/api/releases/", {"ci": f"a{char}b"}), "ci", shown)


def test_a_control_character_in_a_parameter_name_is_refused(actors):
    response = token_client(actors.release_manager).get("/api/releases/?a%00b=1")
    assert response.status_code == 400 and response.json()["code"] == "invalid_character"


def test_an_anonymous_nul_gets_the_400_not_a_401():
    response = APIClient().get("/api/releases/?ci=%00")
    assert response.status_code == 400 and response.json()["code"] == "invalid_character"


@pytest.mark.parametrize("path", ["/reports/?ci=a%00b", "/releases/?ci=a%00b", "/releases/?q=%00",
                                  "/rfcs/?q=%00", "/cmdb/?q=%00", "/tasks/?release=%00"])
def test_a_nul_in_a_page_query_gets_the_400_page(actors, path):
    response = page_client(actors.release_manager).get(path)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")
    assert b"control character (U+0000)" in response.content


@pytest.mark.parametrize("path", ["/admin/releases/release/?state=a%00b", "/admin/releases/task/?q=%00",
                                  "/admin/releases/release/?release_manager__id__exact=%00"])
def test_a_nul_in_an_admin_list_filter_gets_the_400_page(django_user_model, path):
    admin = page_client(django_user_model.objects.create_superuser("root", "root@example.test", "pw-root-12345"))
    response = admin.get(path)
    assert response.status_code == 400
    assert b"control character (U+0000)" in response.content


def test_a_nul_in_the_anonymous_calendar_feed_is_a_plain_400(actors):
    token = CalendarToken.for_user(actors.release_manager)
    feed = Client(raise_request_exception=False)
    assert feed.get(f"/calendar/{token.key}.ics").status_code == 200
    for path in (f"/calendar/{token.key}%00.ics", "/calendar/a%00b.ics", f"/calendar/{token.key}.ics?x=%00"):
        response = feed.get(path)
        assert response.status_code == 400, path
        assert response["Content-Type"].startswith("text/plain")
        assert b"control character" in response.content


def test_a_bare_list_of_errors_becomes_the_error_object():
    """DRF raises a bare list (SearchFilter for a NUL, ``ValidationError("...")``
    in a view); the exception handler gives it ``detail`` and ``code``."""
    response = exception_handler(exceptions.ValidationError(["Null characters are not allowed."]), {})
    assert response.status_code == 400
    assert response.data == {"detail": "Null characters are not allowed.", "code": "invalid",
                             "non_field_errors": ["Null characters are not allowed."]}
    fields = exception_handler(exceptions.ValidationError({"title": ["This field is required."]}), {}).data
    assert fields["code"] == "invalid" and "title" in fields["detail"]
    assert fields["title"] == ["This field is required."]

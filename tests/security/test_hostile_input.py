"""Hostile bodies meet a clear 4xx in the error object, never a 500: a body
over the size limit (413), JSON nested deeper than the limit, NaN, Infinity
or ``1e999`` (400 ``parse_error``), control characters in JSON and form
strings (400), on every door that reads a body: the REST API, the
unauthenticated token endpoint, the signed vendor inbound view and the
browser's forms. The rules live in ``releasemgmt.input_guard``."""
from __future__ import annotations

import json
from functools import partial

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.views import APIView

from releasemgmt import input_guard
from releases.models import Release, Task, Vendor
from releases.scenario import new_release
from notifications.vendors import signed_headers

from .clients import Client, token_client as https_token_client

pytestmark = pytest.mark.django_db

DEEP = "[" * 5000 + "]" * 5000  # Python's parser recursed to RecursionError on this


# Errors come back as the client sees them (a 500 included), not raised into the test.
token_client = partial(https_token_client, raise_request_exception=False)


def nested(depth: int) -> str:
    """A JSON object whose ``description`` nests ``depth`` levels in all."""
    return '{"description": ' + "[" * (depth - 1) + "]" * (depth - 1) + "}"


def assert_error(response, status: int, code: str | None = None):
    assert response.status_code == status, (response.status_code, response.content[:300])
    body = response.json()
    assert isinstance(body, dict) and isinstance(body.get("detail"), str) and isinstance(body.get("code"), str), body
    if code:
        assert body["code"] == code, body
    return body


# --- JSON nesting ---------------------------------------------------------------------


def test_deep_json_to_the_unauthenticated_token_endpoint_is_a_400_not_a_recursion_error():
    response = token_client().post("/api/auth/token/", DEEP, content_type="application/json")
    assert_error(response, 400, "parse_error")


@pytest.mark.parametrize("path", ["/api/rfcs/", "/api/releases/", "/api/tasks/", "/api/cis/",
                                  "/api/release-templates/", "/api/problems/"])
def test_deep_json_to_every_writing_endpoint_is_a_400(actors, make_user, path):
    user = make_user(*sorted({"release_manager", "change_manager", "configuration_manager", "stakeholder"}))
    response = token_client(user).post(path, DEEP, content_type="application/json")
    assert_error(response, 400, "parse_error")


def test_deep_json_to_a_transition_and_a_record_is_a_400(actors):
    release = new_release(actors)
    client = token_client(actors.release_manager)
    assert_error(client.post(f"/api/releases/{release.pk}/transitions/start_planning/", DEEP,
                             content_type="application/json"), 400, "parse_error")
    assert_error(client.post(f"/api/releases/{release.pk}/plans/", DEEP, content_type="application/json"),
                 400, "parse_error")
    assert Release.objects.get(pk=release.pk).state == release.state


def test_json_nesting_is_limited_to_the_setting_and_no_deeper(actors, settings):
    client = token_client(actors.requester)
    limit = settings.JSON_MAX_DEPTH
    ok = client.post("/api/rfcs/", nested(limit), content_type="application/json")
    # Parsed, then refused by the serializer for what it says, not by the parser.
    assert ok.status_code == 400 and ok.json()["code"] != "parse_error", ok.json()
    too_deep = assert_error(client.post("/api/rfcs/", nested(limit + 1), content_type="application/json"),
                            400, "parse_error")
    assert f"deeper than {limit}" in too_deep["detail"]


def test_brackets_inside_strings_do_not_count_as_nesting(actors):
    body = json.dumps({"title": "[" * 150, "description": "{" * 500 + '"]]]'})
    response = token_client(actors.requester).post("/api/rfcs/", body, content_type="application/json")
    assert response.status_code == 201, response.content


# --- numbers ------------------------------------------------------------------------------


@pytest.mark.parametrize("number", ["1e999", "-1e999", "NaN", "Infinity", "-Infinity"])
def test_numbers_json_cannot_hold_are_a_parse_error(actors, number):
    body = '{"title": "x", "release_type": "minor", "rfcs": [%s]}' % number
    response = token_client(actors.release_manager).post("/api/releases/", body, content_type="application/json")
    assert_error(response, 400, "parse_error")
    assert not Release.objects.exists()


# --- body size -------------------------------------------------------------------------------


def test_a_body_over_the_limit_is_a_413_before_it_is_read(actors, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = json.dumps({"title": "x", "description": "y" * 20_000})
    response = token_client(actors.requester).post("/api/rfcs/", body, content_type="application/json")
    assert_error(response, 413, "request_too_large")
    assert "10000 bytes" in response.json()["detail"]
    anonymous = token_client().post("/api/auth/token/", body, content_type="application/json")
    assert_error(anonymous, 413, "request_too_large")


def test_the_json_parser_reads_no_further_than_the_limit(settings):
    """Without a Content-Length the middleware cannot tell; the parser stops
    at the limit."""
    import io

    from rest_framework.exceptions import APIException

    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    with pytest.raises(APIException) as refused:
        input_guard.JSONParser().parse(io.BytesIO(b'{"a": "' + b"x" * 1000 + b'"}'), "application/json", {})
    assert refused.value.status_code == 413


def test_a_page_form_over_the_limit_gets_the_413_page(actors, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    client = Client()
    client.force_login(actors.release_manager)
    response = client.post("/releases/new/", {"title": "x", "description": "y" * 20_000})
    assert response.status_code == 413
    assert response["Content-Type"].startswith("text/html")
    assert b"Request too large" in response.content


# --- control characters in bodies -------------------------------------------------------------


@pytest.mark.parametrize("char", ["\x00", "\x1b", "\x7f", "\x85", "\ud800"])
def test_a_control_character_in_a_json_string_is_refused(actors, char):
    body = json.dumps({"title": f"Fix{char}it", "description": "d"})
    response = token_client(actors.requester).post("/api/rfcs/", body, content_type="application/json")
    assert_error(response, 400, "parse_error")
    assert "control character" in response.json()["detail"]


def test_a_control_character_in_a_json_key_is_refused(actors):
    body = json.dumps({"title": "Fix", "description": "d", "x\x00": 1})
    assert_error(token_client(actors.requester).post("/api/rfcs/", body, content_type="application/json"),
                 400, "parse_error")


def test_tab_cr_and_lf_are_text_in_a_body(actors):
    body = json.dumps({"title": "Fix\tit", "description": "line one\r\nline two\n\tindented"})
    response = token_client(actors.requester).post("/api/rfcs/", body, content_type="application/json")
    assert response.status_code == 201, response.content
    assert response.json()["description"] == "line one\r\nline two\n\tindented"


def test_a_control_character_in_an_api_form_body_is_refused_whatever_the_method(actors):
    client = token_client(actors.requester)
    created = client.post("/api/rfcs/", {"title": "Fine", "description": "d"}, format="json").json()
    posted = client.post("/api/rfcs/", "title=Fix%1Bit&description=d",
                         content_type="application/x-www-form-urlencoded")
    assert_error(posted, 400, "invalid_character")
    patched = client.patch(f"/api/rfcs/{created['id']}/", "title=Fix%00it",
                           content_type="application/x-www-form-urlencoded")
    assert_error(patched, 400, "invalid_character")
    assert client.get(f"/api/rfcs/{created['id']}/").json()["title"] == "Fine"


def test_a_control_character_in_a_page_form_gets_the_400_page(actors):
    client = Client()
    client.force_login(actors.requester)
    response = client.post("/rfcs/new/", {"title": "Fix\x1bit", "description": "d"})
    assert response.status_code == 400
    assert b"control character (U+001B)" in response.content
    from changes.models import ChangeRequest

    assert not ChangeRequest.objects.exists()


# --- the vendor inbound view parses JSON itself -----------------------------------------------------


def signed_post(vendor, body: bytes, key="k-1"):
    """A correctly signed request: the body reaches the parser."""
    url = f"/api/vendors/{vendor.pk}/inbound/"
    return token_client().generic("POST", url, body, content_type="application/json",
                                  headers=signed_headers(VENDOR_SECRET, url=url, body=body, idempotency_key=key))


VENDOR_SECRET = "s3cret-s3cret-s3cret"


@pytest.fixture
def vendor(make_user, make_vendor):
    vendor = make_vendor("Acme", integration_url="https://acme.example/hook", secret=VENDOR_SECRET)
    vendor.users.add(make_user("vendor"))
    return vendor


@pytest.mark.parametrize("body", [DEEP.encode(), b'{"task": 1e999}', b'{"task": 1, "reason": "a\\u0000b"}'])
def test_the_vendor_inbound_view_applies_the_json_rules(vendor, body):
    response = signed_post(vendor, body)
    assert_error(response, 400, "parse_error")
    assert not Task.objects.filter(state="in_progress").exists()


# --- every door that parses a body uses the guarded parsers ------------------------------------------


def _api_views():
    def walk(patterns):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns)
            elif isinstance(pattern, URLPattern):
                cls = getattr(pattern.callback, "cls", None) or getattr(pattern.callback, "view_class", None)
                if isinstance(cls, type) and issubclass(cls, APIView):
                    yield str(pattern.pattern), cls

    return list(walk(get_resolver().url_patterns))


def test_every_api_view_parses_json_with_the_guarded_parser():
    from notifications.views import RawJSONParser, VendorInboundView
    from pipelines.adapters import api as adapters

    guarded = (input_guard.JSONParser, input_guard.FormParser, input_guard.MultiPartParser)
    views = _api_views()
    assert len(views) > 20
    for route, cls in views:
        if cls is VendorInboundView:  # keeps the raw bytes to check the signature, then input_guard.loads
            assert cls.parser_classes == [RawJSONParser]
            continue
        if issubclass(cls, adapters.AdapterWebhookView):  # the same, for GitHub's and GitLab's webhooks
            assert cls.parser_classes == [adapters.RawJSONParser]
            continue
        for parser in cls.parser_classes:
            assert issubclass(parser, guarded), (route, cls, parser)

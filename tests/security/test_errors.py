"""Errors never leak a traceback, SQL or settings. A 500 answers with a
correlation id (JSON in the API's error shape under /api/, a page
otherwise) that is on the response header and in the log line that holds the
traceback."""
from __future__ import annotations

import logging

import pytest
from django.conf import settings

from .boom_urls import SECRET_LOOKING
from .clients import Client

pytestmark = pytest.mark.django_db

LEAKS = ("Traceback", "RuntimeError", "SELECT", "SECRET_KEY", "boom_urls", "File \"", "password", "DATABASES")


def assert_no_leak(body: str):
    for leak in LEAKS:
        assert leak not in body, leak


@pytest.fixture
def failing(settings):
    settings.DEBUG = False
    settings.ROOT_URLCONF = "tests.security.boom_urls"
    return Client(raise_request_exception=False)


def logged_with(caplog, cid):
    """The records of the request with this correlation id that carry the traceback."""
    return [r for r in caplog.records if getattr(r, "correlation_id", None) == cid and r.exc_info]


def test_an_api_500_is_generic_json_with_the_correlation_id(failing, actors, caplog):
    failing.force_login(actors.release_manager)
    with caplog.at_level(logging.ERROR):
        response = failing.get("/api/boom/")
    assert response.status_code == 500
    assert response["Content-Type"] == "application/json"
    body = response.json()
    cid = response["X-Request-ID"]
    assert body == {"detail": body["detail"], "code": "server_error", "correlation_id": cid}
    assert_no_leak(response.content.decode())
    # The log has what the client does not: the traceback, under the same id.
    records = logged_with(caplog, cid)
    assert records and SECRET_LOOKING in str(records[0].exc_info[1])
    line = logging.Formatter(settings.LOGGING["formatters"]["default"]["format"]).format(records[0])
    assert cid in line and "Traceback" in line


def test_a_page_500_shows_only_the_correlation_id(failing, actors, caplog):
    failing.force_login(actors.release_manager)
    with caplog.at_level(logging.ERROR):
        response = failing.get("/boom/")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
    cid = response["X-Request-ID"]
    html = response.content.decode()
    assert f'<code class="correlation-id">{cid}</code>' in html
    assert_no_leak(html)
    assert logged_with(caplog, cid)


def test_a_sane_inbound_request_id_is_kept_and_a_forged_one_replaced(failing, actors, caplog):
    failing.force_login(actors.release_manager)
    with caplog.at_level(logging.ERROR):
        response = failing.get("/api/boom/", HTTP_X_REQUEST_ID="lb-7f3a9c2e-0001")
    assert response["X-Request-ID"] == response.json()["correlation_id"] == "lb-7f3a9c2e-0001"
    assert logged_with(caplog, "lb-7f3a9c2e-0001")
    for forged in ("<script>alert(1)</script>", "x" * 200, "a\nFAKE LOG LINE", "short"):
        response = failing.get("/api/boom/", HTTP_X_REQUEST_ID=forged)
        cid = response.json()["correlation_id"]
        assert cid != forged and len(cid) == 32 and cid == response["X-Request-ID"]


def test_every_response_has_a_correlation_id(client):
    first, second = client.get("/accounts/login/"), client.get("/accounts/login/")
    assert first["X-Request-ID"] != second["X-Request-ID"]


@pytest.mark.parametrize("method, path, body, status", [
    ("post", "/api/releases/", {"title": ""}, 400),
    ("post", "/api/releases/", "{not json", 400),
    ("get", "/api/releases/999999/", None, 404),
    ("get", "/api/releases/not-a-number/", None, 404),
    ("delete", "/api/releases/", None, 405),
    ("get", "/api/releases/?planned_after=yesterday", None, 400),
])
def test_api_errors_carry_no_traceback(settings, client, actors, method, path, body, status):
    settings.DEBUG = False
    client.force_login(actors.release_manager)
    kwargs = {"content_type": "application/json"} if body is not None else {}
    if isinstance(body, dict):
        import json
        body = json.dumps(body)
    response = getattr(client, method)(path, body, **kwargs) if body is not None else getattr(client, method)(path)
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    text = response.content.decode()
    assert_no_leak(text)
    assert "code" in response.json() or status == 400

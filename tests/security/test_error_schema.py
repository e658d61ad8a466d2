"""The schema says what the API does: every operation declares the errors
the layers before its view may answer (400 refused input, 401, 404, 413 a
body over the limit, 415, 429 rate limit or lock-out), each as the error object
(``detail`` and ``code``); the answers are shaped so; API responses carry
``Cache-Control: no-store``."""
from __future__ import annotations

import pytest
from drf_spectacular.generators import SchemaGenerator

from .clients import APIClient, token_client

pytestmark = pytest.mark.django_db

OPEN = {("/api/auth/token/", "post"), ("/api/vendors/{vendor_id}/inbound/", "post")}


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def resolve(schema, node):
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def error_body(schema, operation, code):
    response = operation["responses"][code]
    return resolve(schema, response["content"]["application/json"]["schema"])


def test_every_operation_declares_the_errors_before_its_view(schema):
    ops = list(operations(schema))
    assert len(ops) > 60
    for path, method, operation in ops:
        declared = set(operation["responses"])
        expected = {"400", "429"}
        if (path, method) not in OPEN:
            expected.add("401")
        if "{" in path:
            expected.add("404")
        if method in ("post", "put", "patch"):
            expected |= {"413", "415"}
        assert expected <= declared, (method, path, expected - declared)


def test_every_declared_error_is_the_error_object(schema):
    for path, method, operation in operations(schema):
        for code in operation["responses"]:
            if not code.startswith("4"):
                continue
            body = error_body(schema, operation, code)
            assert {"detail", "code"} <= set(body["properties"]), (method, path, code, body)
            assert {"detail", "code"} <= set(body.get("required", [])), (method, path, code, body)


def test_the_vendor_inbound_view_declares_its_404(schema):
    operation = schema["paths"]["/api/vendors/{vendor_id}/inbound/"]["post"]
    assert {"400", "401", "404", "409", "413", "429"} <= set(operation["responses"])
    response = APIClient().post("/api/vendors/999999/inbound/", {}, format="json")
    assert response.status_code == 404
    assert {"detail", "code"} <= set(response.json())


def test_the_token_endpoint_declares_the_lock_out(schema):
    responses = schema["paths"]["/api/auth/token/"]["post"]["responses"]
    assert "429" in responses and "locked_out" in responses["429"]["description"]


def test_optional_query_parameters_may_be_empty(schema, actors):
    """An empty filter is no filter: the schema says so, and it holds."""
    parameters = schema["paths"]["/api/tasks/"]["get"]["parameters"]
    assert all(p.get("allowEmptyValue") for p in parameters if p["in"] == "query")
    client = token_client(actors.release_manager)
    assert client.get("/api/tasks/?release=&assignee_user=&page_size=&state=").status_code == 200


# --- the answers --------------------------------------------------------------------------------


@pytest.fixture
def api(actors):
    return token_client(actors.release_manager)


def test_a_field_error_is_the_error_object(api):
    response = api.post("/api/releases/", {"release_type": "minor"}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "required" and "title" in body["detail"]
    assert body["title"] == ["This field is required."]


@pytest.mark.parametrize("query", ["page_size=abc", "page_size=0", "page_size=-5", "page_size=1.5"])
def test_a_page_size_that_is_not_a_whole_number_is_a_400(api, query):
    """DRF quietly used the default page size."""
    response = api.get(f"/api/releases/?{query}")
    assert response.status_code == 400
    assert "page_size" in response.json() and response.json()["code"] == "invalid"


def test_a_page_size_over_the_maximum_is_capped(api):
    assert api.get("/api/releases/?page_size=100000000000000000000000").status_code == 200


def test_a_boolean_filter_that_is_not_a_boolean_is_a_400(api):
    """django-filter dropped it and listed everything."""
    assert api.get("/api/release-templates/?active=true").status_code == 200
    response = api.get("/api/release-templates/?active=perhaps")
    assert response.status_code == 400 and "active" in response.json()


def test_templates_take_json_only(api):
    """A form cannot carry a template's tasks and test cases; DRF read one
    without them as "no tasks". The schema and the view agree: JSON."""
    response = api.post("/api/release-templates/", "name=x&release_type=minor",
                        content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert {"detail", "code"} <= set(response.json())


# --- caching ---------------------------------------------------------------------------------


def test_api_responses_are_never_stored(api, actors):
    for response in (api.get("/api/releases/"), api.get("/api/users/me/"), api.get("/api/releases/999999/"),
                     api.get("/api/releases/?ci=%00"), api.get("/api/nothing-here/")):
        assert "no-store" in response["Cache-Control"], (response.status_code, response.get("Cache-Control"))
    actors.requester.set_password("pw-test-12345")
    actors.requester.save()
    token = APIClient().post("/api/auth/token/", {"username": actors.requester.username,
                                                   "password": "pw-test-12345"}, format="json")
    assert token.status_code == 200 and "no-store" in token["Cache-Control"]

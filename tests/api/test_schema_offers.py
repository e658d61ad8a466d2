"""The schema offers only the writes that can succeed for someone: no write
by hand of a record its step's transition writes, no edit of evidence, and
request bodies a client can send; and it comes as JSON to a client that asks
for JSON."""
import json

import pytest
import yaml
from drf_spectacular.generators import SchemaGenerator

from releases.models import RECORD_TYPES

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


@pytest.mark.parametrize("record_type", list(RECORD_TYPES))
def test_record_writes_are_offered_only_where_someone_can_make_them(schema, record_type):
    model = RECORD_TYPES[record_type]
    listing = schema["paths"][f"/api/releases/{{release_pk}}/{record_type}/"]
    detail = schema["paths"][f"/api/releases/{{release_pk}}/{record_type}/{{id}}/"]
    # Who writes it, read from its declaration: a record with no writers is
    # written by its step's transition (go_decisions, deployments).
    assert ("post" in listing) == bool(model.writers)
    assert ("patch" in detail) == bool(model.writers and not model.immutable and not model.signed)
    assert "get" in listing and "get" in detail and "put" not in detail


def test_transition_written_records_have_no_request_body(schema):
    components = schema["components"]["schemas"]
    assert not {"DeploymentRequest", "PatchedDeploymentRequest", "GoNoGoDecisionRequest",
                "PatchedGoNoGoDecisionRequest"} & set(components)
    for name, component in components.items():
        if name.endswith("Request"):
            assert "started_at" not in component.get("required", []), name


def test_the_server_refuses_what_the_schema_does_not_offer(client_for, actors, cis):
    from tests.helpers import reach

    release = reach(actors, cis, "deployed").release
    rm = client_for(actors.release_manager)
    deployment = release.deployments.get()
    assert rm.post(f"/api/releases/{release.pk}/deployments/", {"started_at": "2026-01-01T00:00:00Z"},
                   format="json").status_code == 405
    assert rm.patch(f"/api/releases/{release.pk}/deployments/{deployment.pk}/", {"notes": "x"},
                    format="json").status_code == 405
    plan = release.plans.first()
    assert rm.patch(f"/api/releases/{release.pk}/plans/{plan.pk}/", {"notes": "x"},
                    format="json").status_code == 405


@pytest.mark.parametrize("accept", ["application/json", "application/json, text/plain, */*",
                                    "application/vnd.oai.openapi+json",
                                    # DRF would pick its first renderer (YAML) here, ignoring the quality.
                                    "application/yaml;q=0.5, application/json",
                                    "application/json;q=0.9, application/vnd.oai.openapi;q=0.2"])
def test_the_schema_is_json_for_a_client_that_asks_for_json(client, accept):
    response = client.get("/api/schema/", HTTP_ACCEPT=accept)
    assert response.status_code == 200
    assert response["Content-Type"] in ("application/json", "application/vnd.oai.openapi+json")
    assert json.loads(response.content)["openapi"].startswith("3.")
    assert "Accept" in response["Vary"]


@pytest.mark.parametrize("accept", [None, "*/*", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"])
def test_the_schema_stays_yaml_without_a_preference_and_by_format(client, accept):
    headers = {"HTTP_ACCEPT": accept} if accept else {}
    response = client.get("/api/schema/", **headers)
    assert response.status_code == 200 and response["Content-Type"].startswith("application/vnd.oai.openapi")
    assert yaml.safe_load(response.content)["openapi"].startswith("3.")
    as_json = client.get("/api/schema/?format=json", **headers)
    assert json.loads(as_json.content)["openapi"].startswith("3.")

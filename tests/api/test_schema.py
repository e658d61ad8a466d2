"""The OpenAPI schema: generated without a warning, valid OpenAPI 3, and
naming the contract's transitions, so a generated client works unchanged."""
import pytest
import yaml
from django.core.management import call_command
from drf_spectacular.drainage import GENERATOR_STATS

from changes.models import ChangeRequest
from cmdb.models import ConfigurationItem
from releasemgmt.workflow import specs
from releases.models import RECORD_TYPES, Release, Task

RELEASE_TRANSITIONS = {
    "start_planning", "submit_plan", "approve_plan", "reject_plan", "schedule", "start_packaging", "start_build",
    "complete_build", "start_testing", "pass_tests", "fail_tests", "update_plans", "prepare", "approve_go", "no_go",
    "record_backup", "start_deployment", "complete_deployment", "verify_deployment", "evaluate", "start_review",
    "accept", "rollback", "complete_rollback", "close", "cancel",
}
RFC_TRANSITIONS = {"assess", "authorize", "reject", "cancel"}
TASK_TRANSITIONS = {"start", "complete", "block", "unblock", "cancel"}


@pytest.fixture(scope="module")
def schema(tmp_path_factory):
    out = tmp_path_factory.mktemp("schema") / "schema.yaml"
    GENERATOR_STATS.reset()
    # Raises (CommandError) on any warning or error, or an invalid schema.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert not GENERATOR_STATS._warn_cache and not GENERATOR_STATS._error_cache
    return yaml.safe_load(out.read_text())


def test_the_schema_generates_without_warnings_and_validates(schema, capsys):
    assert schema["openapi"].startswith("3.")
    assert "Warning" not in capsys.readouterr().err


def name_enum(schema, path):
    parameters = schema["paths"][path]["post"]["parameters"]
    (name,) = [p for p in parameters if p["name"] == "name" and p["in"] == "path"]
    assert name["required"] is True
    return set(name["schema"]["enum"])


@pytest.mark.parametrize("path, model, contract", [
    ("/api/releases/{id}/transitions/{name}/", Release, RELEASE_TRANSITIONS),
    ("/api/rfcs/{id}/transitions/{name}/", ChangeRequest, RFC_TRANSITIONS),
    ("/api/tasks/{id}/transitions/{name}/", Task, TASK_TRANSITIONS),
    ("/api/cis/{id}/transitions/{name}/", ConfigurationItem, {"commission", "retire"}),
])
def test_transition_names_are_enums_of_the_contract_names(schema, path, model, contract):
    enum = name_enum(schema, path)
    assert contract <= enum
    assert enum == {n for n, spec in specs(model).items() if not spec.internal}


def test_transitions_document_their_errors_and_if_match(schema):
    post = schema["paths"]["/api/releases/{id}/transitions/{name}/"]["post"]
    assert {"200", "400", "401", "403", "404", "409", "412"} <= set(post["responses"])
    conflict = post["responses"]["409"]["content"]["application/json"]["schema"]["$ref"]
    error = schema["components"]["schemas"][conflict.rsplit("/", 1)[1]]
    assert set(error["properties"]) == {"detail", "code", "blockers"}
    assert any(p["name"] == "If-Match" and p["in"] == "header" for p in post["parameters"])
    listing = schema["paths"]["/api/releases/{id}/transitions/"]["get"]["responses"]["200"]
    row_ref = listing["content"]["application/json"]["schema"]["items"]["$ref"]
    row = schema["components"]["schemas"][row_ref.rsplit("/", 1)[1]]
    assert {"name", "target", "step", "allowed", "blockers"} <= set(row["properties"])


def test_every_resource_of_the_contract_is_described(schema):
    paths = set(schema["paths"])
    for path in ("/api/auth/token/", "/api/rfcs/", "/api/releases/", "/api/releases/{id}/",
                 "/api/releases/{id}/scope/", "/api/releases/{id}/baseline/", "/api/tasks/", "/api/cis/",
                 "/api/baselines/", "/api/baselines/{id}/diff/", "/api/users/", "/api/users/me/"):
        assert path in paths, path
    for record_type in RECORD_TYPES:
        assert f"/api/releases/{{release_pk}}/{record_type}/" in paths
        assert f"/api/releases/{{release_pk}}/{record_type}/{{id}}/" in paths
    release_post = schema["paths"]["/api/releases/"]["post"]
    body_ref = release_post["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    body = schema["components"]["schemas"][body_ref.rsplit("/", 1)[1]]
    assert {"title", "release_type", "rfcs"} <= set(body["required"])
    assert release_post["responses"]["400"]["content"]["application/json"]["schema"]["additionalProperties"] == {}

"""Schemathesis against the live schema (/api/schema/), in process through
the WSGI application, with the tokens of several roles and every check
Schemathesis has: no server error, no response that the schema does not
describe (status, content type, headers, body), no invalid data accepted,
no valid data refused other than by auth, and so on.

Two modes: positive (schema-valid requests, every role) and negative
(requests that break the schema: wrong types, out-of-range numbers, missing
fields, strings where ids go, hostile characters; one role and fewer
examples, to keep CI fast). Each must meet a declared answer in the error
object, never a 5xx.

Path parameters are drawn either by Schemathesis or from the ids of the
seeded world (``seeded_world.py``), so that most requests reach real objects
in the states the process produces.

Excluded from the positive run: ``POST /api/auth/token/`` (a
username/password exchange with no token auth; fuzzing it only tests DRF's
ObtainAuthToken and the 400 it is documented with is covered in
test_api_contract) and ``POST /api/vendors/{vendor_id}/inbound/`` (every
request needs an HMAC signature of its raw body by the vendor's secret;
generated bodies can never be signed, so every case is the same 401 and the
endpoint has its own tests). The negative run takes them too: both are open
to anyone, and hostile input must not break them either.
"""
from __future__ import annotations

import re

import pytest
import schemathesis
from drf_spectacular.generators import SchemaGenerator
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config import SchemathesisConfig
from schemathesis.generation import GenerationMode

from releasemgmt.wsgi import application

from .seeded_world import world  # noqa: F401  (the module-scoped fixture)

ROLES = ("release_manager", "cab_member", "stakeholder", "vendor")
EXCLUDED = {"POST /api/auth/token/", "POST /api/vendors/{vendor_id}/inbound/"}
MAX_EXAMPLES = 8
# The negative run: the role that may do the most (so requests get past the
# role checks to the parsing and validation), and fewer examples.
NEGATIVE_ROLE = "release_manager"
MAX_NEGATIVE_EXAMPLES = 5

load_all_checks()
ALL_CHECKS = list(CHECKS.get_all())
assert {"not_a_server_error", "response_schema_conformance", "status_code_conformance",
        "negative_data_rejection"} <= {c.__name__ for c in ALL_CHECKS}


def _operations() -> tuple[list[str], list[str], set[str]]:
    """The operations of the positive run; of the negative run (those with
    something to break: a parameter or a body); and those taking JSON."""
    spec = SchemaGenerator().get_schema(request=None, public=True)
    labels = {f"{method.upper()} {path}": op for path, item in spec["paths"].items() for method, op in item.items()}
    negative = [label for label, op in labels.items() if op.get("parameters") or op.get("requestBody")]
    json_bodies = {label for label, op in labels.items()
                   if "application/json" in op.get("requestBody", {}).get("content", {})}
    return sorted(set(labels) - EXCLUDED), sorted(negative), json_bodies


OPERATIONS, NEGATIVE_OPERATIONS, JSON_BODIES = _operations()
_SCHEMA = {}


def live_schema(headers):
    """The schema as the API serves it; reading it needs a login (``headers``
    carries a token)."""
    if "schema" not in _SCHEMA:
        # A generated If-Match can never be the object's current ETag: 412 is
        # the documented answer to schema-valid data there, not a refusal.
        # 400 is the documented answer when schema-valid data breaks a rule
        # the schema cannot express (an id that does not exist, an empty RFC
        # list, an end before its start): a clear 4xx with the reason, as the
        # contract asks. Server errors and schema violations stay failures.
        # Negative data may also meet 412 first: the If-Match check comes
        # before the body is read (a stale writer learns that first), and
        # a generated ETag never matches.
        config = SchemathesisConfig.from_dict({"checks": {
            "positive_data_acceptance": {"expected-statuses": ["2xx", "400", "401", "403", "404", "409", "412"]},
            "negative_data_rejection": {"expected-statuses": ["400", "401", "403", "404", "405", "406", "409",
                                                              "412", "413", "415", "422", "429"]}}})
        _SCHEMA["schema"] = schemathesis.openapi.from_wsgi("/api/schema/", application, config=config,
                                                               headers=headers)
    return _SCHEMA["schema"]


def real_ids(world, path: str, name: str) -> list[int]:
    """The ids of the seeded objects a path parameter may name."""
    if name == "release_pk":
        return world.ids["release"]
    if name == "vendor_id":
        return world.ids["vendor"]
    if name != "id":
        return []
    record = re.match(r"/api/releases/\{release_pk\}/(\w+)/\{id\}/", path)
    if record:
        pair = world.records.get(record.group(1))
        return [pair[1]] if pair else []
    kind = {"releases": "release", "rfcs": "rfc", "tasks": "task", "cis": "ci", "baselines": "baseline",
            "users": "user", "problems": "problem", "release-templates": "template", "teams": "team",
            "vendors": "vendor", "freeze-windows": "freeze", "evidence": "evidence",
            "webhooks": "webhook", "standard-changes": "standard_change"}[path.split("/")[2]]
    return world.ids[kind]


def run_operation(world, label, role, mode, max_examples):
    method, path = label.split(" ", 1)
    headers = {"Authorization": f"Token {world.tokens[role]}"}
    operation = live_schema(headers)[path][method]
    record = re.match(r"/api/releases/\{release_pk\}/(\w+)/\{id\}/", path)
    # Negative bodies go as JSON: a form carries strings only and DRF reads
    # an empty form field as one not sent, so most negative form data is
    # valid again once encoded. (The positive run sends forms too; the
    # input rules for forms have their own tests in tests/security.)
    media = {"media_type": "application/json"} if mode.is_negative and label in JSON_BODIES else {}

    @settings(max_examples=max_examples, deadline=None, database=None, derandomize=True,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode, **media), data=st.data())
    def run(case, data):
        params = case.path_parameters or {}
        if record and world.records.get(record.group(1)) and data.draw(st.booleans(), label="real object"):
            # A record and its own release, so the pair exists.
            params["release_pk"], params["id"] = world.records[record.group(1)]
        else:
            for name in list(params):
                ids = real_ids(world, path, name)
                if ids and data.draw(st.booleans(), label=f"real {name}"):
                    params[name] = data.draw(st.sampled_from(ids), label=name)
        case.call_and_validate(headers=headers, checks=ALL_CHECKS)

    run()


@pytest.mark.django_db
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE], ids=str)
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("label", OPERATIONS)
def test_api_conforms_to_its_schema(world, label, role, mode):  # noqa: F811
    run_operation(world, label, role, mode, MAX_EXAMPLES)


@pytest.mark.django_db
@pytest.mark.parametrize("label", NEGATIVE_OPERATIONS)
def test_api_answers_schema_violating_requests_as_its_schema_says(world, label):  # noqa: F811
    run_operation(world, label, NEGATIVE_ROLE, GenerationMode.NEGATIVE, MAX_NEGATIVE_EXAMPLES)

"""Schemathesis over the whole published schema as a superuser (who holds
every role, so generated requests get past the role checks to the parsing,
the guards and the writes), in process through the WSGI application:

- every operation, a bounded number of schema-valid examples each, path ids
  drawn half the time from the seeded world so that most requests reach
  real objects;
- stateful: sequences of calls chained by the links Schemathesis infers
  from the schema (an id an answer returns is used by the next call).

Checked on every answer: no server error, a documented status, a documented
content type and headers, a body valid by the response schema. Each run
collects its failures (the first per operation) and reports them all
together, with the request that produced each: a finding is an operation,
an input and an answer. tests/api/test_schemathesis.py runs the role users
in positive and negative mode with the other checks.

Examples are bounded (``MAX_EXAMPLES``, ``STATEFUL_*``) and not shrunk, so
that the module stays short in CI.
"""
from __future__ import annotations

import re

import pytest
import schemathesis
from django.db import transaction
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.generation.stateful import run_state_machine_as_test

from releasemgmt.wsgi import application
from tests.helpers import create_user

from .seeded_world import world  # noqa: F401  (the module-scoped fixture)

pytestmark = pytest.mark.django_db

MAX_EXAMPLES = 5
STATEFUL_EXAMPLES = 15
STATEFUL_STEPS = 8
# A username and password exchange without a token, and a door whose every
# request must carry an HMAC of its raw body by the vendor's secret (a
# generated body is never signed, so every case is the same 401): both have
# their own tests (test_schemathesis.py takes them in negative mode).
EXCLUDED = {"POST /api/auth/token/", "POST /api/vendors/{vendor_id}/inbound/"}

load_all_checks()
_BY_NAME = {check.__name__: check for check in CHECKS.get_all()}
CONFORMANCE = [_BY_NAME[name] for name in ("not_a_server_error", "status_code_conformance",
                                           "content_type_conformance", "response_headers_conformance",
                                           "response_schema_conformance")]
FAST = dict(deadline=None, database=None, derandomize=True, phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck))


@pytest.fixture
def superuser_headers(world):  # noqa: F811
    root = create_user("root", is_superuser=True, is_staff=True)
    return {"Authorization": f"Token {Token.objects.create(user=root).key}"}


def load(headers):
    return schemathesis.openapi.from_wsgi("/api/schema/?format=json", application, headers=headers)


def seeded_ids(world, template: str, name: str) -> list[int]:  # noqa: F811
    """The ids of seeded objects a path parameter may name."""
    record = re.match(r"/api/releases/\{release_pk\}/(\w+)/\{id\}/", template)
    if name == "release_pk" or (name == "id" and template.startswith("/api/releases/{id}")):
        return world.ids["release"]
    if name == "vendor_id":
        return world.ids["vendor"]
    if record and name == "id":
        pair = world.records.get(record.group(1))
        return [pair[1]] if pair else []
    kind = {"rfcs": "rfc", "tasks": "task", "cis": "ci", "baselines": "baseline", "users": "user",
            "problems": "problem", "release-templates": "template"}.get(template.split("/")[2])
    return world.ids.get(kind, []) if name == "id" and kind else []


def _finding(label: str, exc: BaseException) -> str:
    return f"--- {label}\n{str(exc).strip()[:3000]}"


def run_operation(world, operation, headers):  # noqa: F811
    """``MAX_EXAMPLES`` generated requests to ``operation``; the first one
    answered otherwise than documented raises."""
    record = re.match(r"/api/releases/\{release_pk\}/(\w+)/\{id\}/", operation.path)

    @settings(max_examples=MAX_EXAMPLES, **FAST)
    @given(case=operation.as_strategy(), data=st.data())
    def run(case, data):
        params = case.path_parameters or {}
        if record and world.records.get(record.group(1)) and data.draw(st.booleans(), label="real record"):
            params["release_pk"], params["id"] = world.records[record.group(1)]
        else:
            for name in list(params):
                ids = seeded_ids(world, operation.path, name)
                if ids and data.draw(st.booleans(), label=f"real {name}"):
                    params[name] = data.draw(st.sampled_from(ids), label=name)
        case.call_and_validate(headers=headers, checks=CONFORMANCE)

    run()


def test_every_operation_answers_a_superuser_as_its_schema_says(world, superuser_headers):  # noqa: F811
    findings = []
    for result in load(superuser_headers).get_all_operations():
        operation = result.ok()
        if operation.label in EXCLUDED:
            continue
        try:
            run_operation(world, operation, superuser_headers)
        except Exception as exc:  # noqa: BLE001 - collected, reported together below
            findings.append(_finding(operation.label, exc))
    assert not findings, f"{len(findings)} operations answered otherwise than documented:\n\n" + \
                         "\n\n".join(findings)


def test_chained_calls_follow_the_schema_links_as_a_superuser(world, superuser_headers):  # noqa: F811
    schema = load(superuser_headers)
    machine = schema.as_state_machine()
    # Links inferred from the schema (an id in one answer feeding another
    # operation's parameter) are what chain the calls.
    assert schema.statistic.transitions.total > 0

    calls = []

    class AsSuperuser(machine):
        # Each scenario starts from the same seeded data and leaves it as it
        # was (a savepoint rolled back), so hypothesis replays it alike.
        def setup(self):
            self._scenario = transaction.atomic()
            self._scenario.__enter__()

        def teardown(self):
            transaction.set_rollback(True)
            self._scenario.__exit__(None, None, None)

        def get_call_kwargs(self, case):
            calls.append(case.operation.label)
            return {"headers": superuser_headers}

        def validate_response(self, response, case, additional_checks=None, **kwargs):
            case.validate_response(response, checks=CONFORMANCE, headers=superuser_headers)

    run_state_machine_as_test(AsSuperuser, settings=settings(max_examples=STATEFUL_EXAMPLES,
                                                             stateful_step_count=STATEFUL_STEPS, **FAST))
    # Scenarios of several chained calls ran, over many operations.
    assert len(calls) > 2 * STATEFUL_EXAMPLES and len(set(calls)) > 10, calls

"""A role x endpoint matrix over every operation of the generated schema.

MATRIX names, for each operation, the roles that may get a 2xx on the seeded
object the operation is called on (see ``target``). Every other role must get
401/403/404/405/409 (never a 2xx), and nobody gets a 5xx. The matrix must
cover exactly the operations of the schema: a new endpoint fails
``test_every_schema_operation_is_in_the_matrix`` until someone decides who
may use it.
"""
from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from .seeded_world import world  # noqa: F401  (the module-scoped fixture)

ALL = frozenset({"release_manager", "change_manager", "cab_member", "delivery_manager", "build_team", "test_team",
                 "deployment_team", "configuration_manager", "vendor", "stakeholder"})
RM = frozenset({"release_manager"})
CM = frozenset({"change_manager"})
CONF = frozenset({"configuration_manager"})
NOBODY = frozenset()
REFUSED = {401, 403, 404, 405, 409}

# Who may write each step record (by hand, from the process design; reads are open to every role that can
# see the release, and the vendor works on the release used here).
RECORD_WRITERS = {
    "plans": RM, "votes": {"cab_member"}, "build_documents": {"build_team", "release_manager"},
    "security_checks": {"build_team", "release_manager"},
    "prerequisite_checks": {"build_team", "release_manager", "configuration_manager"},
    "test_cases": {"test_team", "release_manager"}, "test_results": {"test_team", "release_manager"},
    "rollback_plans": RM, "pre_implementation_checks": RM,
    "environment_readiness": {"release_manager", "deployment_team"}, "communications": RM,
    "readiness_assessments": {"release_manager", "delivery_manager"}, "go_decisions": NOBODY,
    "training_plans": {"release_manager", "delivery_manager"}, "backups": {"release_manager", "deployment_team"},
    "deployments": NOBODY, "health_checks": {"release_manager", "deployment_team"}, "evaluations": CM,
    "reviews": CM, "rollback_advice": {"delivery_manager", "change_manager"},
    "problem_references": {"release_manager", "change_manager"}, "closure_comments": RM,
}

MATRIX: dict[str, frozenset] = {
    "GET /api/calendar/": ALL,
    "POST /api/auth/token/": NOBODY,  # takes a username and password, not a token: 400 for {} whoever calls
    "POST /api/vendors/{vendor_id}/inbound/": NOBODY,  # only a request signed by the vendor's secret
    "GET /api/users/": ALL, "GET /api/users/{id}/": ALL, "GET /api/users/me/": ALL, "GET /api/me/queue/": ALL,
    "GET /api/rfcs/": ALL, "POST /api/rfcs/": ALL,  # anyone with a role may raise an RFC
    "GET /api/rfcs/{id}/": ALL, "PUT /api/rfcs/{id}/": CM, "PATCH /api/rfcs/{id}/": CM,
    "GET /api/rfcs/{id}/transitions/": ALL, "POST /api/rfcs/{id}/transitions/{name}/": CM,
    "GET /api/releases/": ALL, "POST /api/releases/": RM,
    "GET /api/releases/{id}/": ALL, "PUT /api/releases/{id}/": RM, "PATCH /api/releases/{id}/": RM,
    "GET /api/releases/{id}/transitions/": ALL, "POST /api/releases/{id}/transitions/{name}/": RM,
    "GET /api/releases/{id}/scope/": ALL, "POST /api/releases/{id}/scope/": RM,
    "POST /api/releases/{id}/baseline/": {"release_manager", "configuration_manager"},
    "GET /api/tasks/": ALL, "POST /api/tasks/": RM,
    "GET /api/tasks/{id}/": ALL, "PUT /api/tasks/{id}/": RM, "PATCH /api/tasks/{id}/": {"release_manager", "vendor"},
    "GET /api/tasks/{id}/transitions/": ALL, "POST /api/tasks/{id}/transitions/{name}/": {"release_manager", "vendor"},
    "GET /api/cis/": ALL, "POST /api/cis/": CONF,
    "GET /api/cis/{id}/": ALL, "PUT /api/cis/{id}/": CONF, "PATCH /api/cis/{id}/": CONF,
    "GET /api/cis/{id}/transitions/": ALL, "POST /api/cis/{id}/transitions/{name}/": CONF,
    "GET /api/baselines/": ALL, "GET /api/baselines/{id}/": ALL, "GET /api/baselines/{id}/diff/": ALL,
    # Release templates are kept by release managers; a vendor lists none and reads none.
    "GET /api/release-templates/": ALL, "POST /api/release-templates/": RM,
    "GET /api/release-templates/{id}/": ALL - {"vendor"}, "PUT /api/release-templates/{id}/": RM,
    "PATCH /api/release-templates/{id}/": RM,
    # Problem records: opened and worked by release and change managers, read by the process.
    "GET /api/problems/": ALL, "POST /api/problems/": RM | CM,
    "GET /api/problems/{id}/": ALL - {"vendor"}, "PUT /api/problems/{id}/": RM | CM,
    "PATCH /api/problems/{id}/": RM | CM,
    "GET /api/problems/{id}/transitions/": ALL - {"vendor"}, "POST /api/problems/{id}/transitions/{name}/": RM | CM,
    # process metrics: every role but a vendor, who sees only its own tasks
    "GET /api/metrics/": ALL - {"vendor"}, "GET /api/metrics/{metric}.csv": ALL - {"vendor"},
    # Audit evidence (the change-management trail): release and change managers; auditors pull through them.
    "GET /api/audit/evidence/": RM | CM,
    # Histories: whoever may see the object (the vendor works on the far release, its RFC, CI and task).
    "GET /api/releases/{id}/history/": ALL, "GET /api/rfcs/{id}/history/": ALL, "GET /api/tasks/{id}/history/": ALL,
    "GET /api/cis/{id}/history/": ALL, "GET /api/problems/{id}/history/": ALL - {"vendor"},
    # Lookups: a vendor lists no team and only its own vendor; freeze windows are written by release and
    # change managers and not read by a vendor (whose list is empty).
    "GET /api/teams/": ALL, "GET /api/teams/{id}/": ALL - {"vendor"},
    "GET /api/vendors/": ALL, "GET /api/vendors/{id}/": ALL,
    "GET /api/freeze-windows/": ALL, "POST /api/freeze-windows/": RM | CM,
    "GET /api/freeze-windows/{id}/": ALL - {"vendor"}, "PUT /api/freeze-windows/{id}/": RM | CM,
    "PATCH /api/freeze-windows/{id}/": RM | CM, "DELETE /api/freeze-windows/{id}/": RM | CM,
    # Standard changes: approved and withdrawn (signed) by change managers; read by the process, not a vendor.
    "GET /api/standard-changes/": ALL, "POST /api/standard-changes/": CM,
    "GET /api/standard-changes/{id}/": ALL - {"vendor"}, "POST /api/standard-changes/{id}/withdraw/": CM,
    # The deployment gate: any role may ask it (the answer says whether the caller may deploy); only the
    # deployment team may report a deployment, and this release is not ready for one (409), nor is the
    # finished deployment's release deploying.
    "GET /api/gate/": ALL, "POST /api/gate/deployments/": NOBODY,
    "POST /api/gate/deployments/{deployment_id}/finish/": NOBODY,
    # Evidence files: seen with their record (the far release's test result: every role, the vendor too);
    # any role may attach to something (an RFC of one's own), so the refusal depends on the record named.
    "GET /api/evidence/": ALL, "GET /api/evidence/{id}/": ALL, "GET /api/evidence/{id}/download/": ALL,
    "POST /api/evidence/": ALL,
    # Event subscriptions: release managers (and administrators) alone, reads included.
    "GET /api/webhooks/": RM, "POST /api/webhooks/": RM, "GET /api/webhooks/{id}/": RM,
    "PATCH /api/webhooks/{id}/": RM, "GET /api/webhooks/{id}/deliveries/": RM,
    "POST /api/webhooks/{id}/deliveries/{delivery_id}/redeliver/": RM,
    # The adapters' webhooks take no user token: only a delivery signed with an adapter's secret.
    "POST /api/gate/github/{adapter_id}/": NOBODY, "POST /api/gate/gitlab/{adapter_id}/": NOBODY,
}
# Evidence, kept as written (a change is a new record): no edit is offered.
EVIDENCE = {"plans", "votes", "security_checks", "test_results", "communications", "readiness_assessments",
            "go_decisions", "health_checks", "evaluations", "reviews", "rollback_advice"}
for _rt, _writers in RECORD_WRITERS.items():
    MATRIX.update({
        f"GET /api/releases/{{release_pk}}/{_rt}/": ALL,
        f"GET /api/releases/{{release_pk}}/{_rt}/{{id}}/": ALL,
    })
    # A record nobody writes by hand (its step's transition does) offers no write at all.
    if _writers:
        MATRIX[f"POST /api/releases/{{release_pk}}/{_rt}/"] = frozenset(_writers)
        if _rt not in EVIDENCE:
            MATRIX[f"PATCH /api/releases/{{release_pk}}/{_rt}/{{id}}/"] = frozenset(_writers)


def schema_operations() -> set[str]:
    spec = SchemaGenerator().get_schema(request=None, public=True)
    return {f"{method.upper()} {path}" for path, item in spec["paths"].items() for method in item}


OPERATIONS = sorted(schema_operations())


def test_every_schema_operation_is_in_the_matrix():
    assert not set(OPERATIONS) - set(MATRIX), "operations no one has decided about"
    assert not set(MATRIX) - set(OPERATIONS), "the matrix names operations the schema no longer has"


TRANSITION = {"releases": "start_planning", "rfcs": "assess", "tasks": "start", "cis": "commission",
              "problems": "identify_root_cause"}


def target(world, label: str) -> tuple[str, str, dict]:
    """The method, concrete URL and body for an operation."""
    method, path = label.split(" ", 1)
    ids = world.ids
    record = re.match(r"/api/releases/\{release_pk\}/(\w+)/", path)
    if record:
        release_pk, record_id = world.records.get(record.group(1), (ids["far"], 999999))
        if "{id}" not in path:
            release_pk = ids["far"]
        url = path.replace("{release_pk}", str(release_pk)).replace("{id}", str(record_id))
    else:
        kind = path.split("/")[2]
        writing = method in ("POST", "PUT", "PATCH")
        obj = {
            "releases": ids["new"] if writing else ids["far"],
            "rfcs": ids["submitted_rfc"] if writing else ids["rfc"][-1],
            "tasks": ids["vendor_task"], "cis": ids["ci"][0], "baselines": ids["baseline"][0],
            "users": world.users["vendor"].pk, "vendors": ids["vendor"][0],
            "release-templates": ids["template"][0], "problems": ids["problem"][0],
            "teams": ids["team"][0], "freeze-windows": ids["freeze"][0], "evidence": ids["evidence"][0],
            "webhooks": ids["webhook"][0], "standard-changes": ids["standard_change"][0],
        }.get(kind)
        url = path.replace("{id}", str(obj)).replace("{vendor_id}", str(obj)).replace("{delivery_id}", "999999")
        url = url.replace("{name}", TRANSITION.get(kind, "")).replace("{metric}", "lead_time")
        if url.endswith("/diff/"):
            url += f"?other={ids['baseline'][0]}"
        if url.endswith("/audit/evidence/"):  # the last 30 days: the seeded world is in them
            url += f"?from={date.today() - timedelta(days=30)}&to={date.today() + timedelta(days=1)}"
    body = {"vendor_ticket_ref": "ACME-1"} if label == "PATCH /api/tasks/{id}/" else {}
    if path.startswith("/api/gate/"):
        deployment = world.records.get("deployments", (None, 999999))[1]
        url = path.replace("{deployment_id}", str(deployment))
        if method == "GET":
            url += f"?release={ids['far']}"
        elif url.endswith("/deployments/"):
            body = {"release": str(ids["far"]), "run_url": "https://ci.example.test/run/1"}
        else:
            body = {"outcome": "succeeded"}
    return method, url, body


@pytest.mark.django_db
@pytest.mark.parametrize("role", sorted(ALL))
@pytest.mark.parametrize("label", OPERATIONS)
def test_role_may_act_only_where_the_matrix_says(world, label, role):  # noqa: F811
    if label not in MATRIX:
        pytest.fail(f"{label} is not in the matrix")
    method, url, body = target(world, label)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {world.tokens[role]}")
    response = client.generic(method, url, data=__import__("json").dumps(body), content_type="application/json")
    status = response.status_code
    assert status < 500, (label, role, status, response.content[:300])
    if role not in MATRIX[label]:
        refused = REFUSED | ({400} if label == "POST /api/auth/token/" else set())  # no credentials in {}
        assert status in refused, (label, role, status, response.content[:300])

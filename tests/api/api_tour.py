"""The rest of what the schema offers, beyond the four journeys: changes that
do not go ahead (an RFC rejected, one withdrawn, a release cancelled),
replacing objects whole (PUT), the CMDB's own lifecycle, release templates,
the people, the reports and the audit export; then a sweep that reads every
list and object the schema describes, resolving ids the way a client does
(list the collection, take an item), so that a read the schema offers and
the server refuses shows up.

Like the journeys, this knows only the published schema (``schema_client``).
"""
from __future__ import annotations

import re
from datetime import date, timedelta

from .release_journeys import Cast, Journey, iso
from .schema_client import Api, Session, UnexpectedAnswer


def changes_that_do_not_go_ahead(cast: Cast):
    """An RFC its requester edits (PATCH and PUT, with If-Match) before the
    change manager rejects it; one withdrawn; a release raised by mistake,
    replaced whole, a task planned on it replaced whole and cancelled, and
    the release cancelled."""
    j = Journey(cast, "minor", "withdrawn")
    requester = cast["requester"]

    def rfc(title):
        return requester.post("/api/rfcs/", body={"title": title, "description": "As discussed.",
                                                   "change_type": "normal", "risk": "low", "impact": "low"}).body

    first = rfc("Dark mode")
    path = {"id": first["id"]}
    etag = requester.get("/api/rfcs/{id}/", path=path).etag
    requester.patch("/api/rfcs/{id}/", path=path, headers={"If-Match": etag}, body={"risk": "medium"})
    etag = requester.get("/api/rfcs/{id}/", path=path).etag
    requester.put("/api/rfcs/{id}/", path=path, headers={"If-Match": etag}, body={
        "title": "Dark mode everywhere", "description": "Offer a dark theme on every page.",
        "change_type": "normal", "risk": "medium", "impact": "low"})
    j.transition("cm", "assess", resource="rfcs", obj=first["id"])
    j.transition("cm", "reject", resource="rfcs", obj=first["id"], reason="Not worth the maintenance.")
    j.transition("rm", "cancel", resource="rfcs", obj=rfc("Old banner")["id"], reason="Raised twice.")

    j.rfc = rfc("Search tweak")["id"]
    rm = cast["rm"]
    release = rm.post("/api/releases/", body={"title": "Search tweak", "release_type": "minor", "rfcs": [j.rfc],
                                             "planned_start": iso(j.start), "planned_end": iso(j.end)}).body
    j.release, path = release["id"], {"id": release["id"]}
    etag = rm.get("/api/releases/{id}/", path=path).etag
    replaced = rm.put("/api/releases/{id}/", path=path, headers={"If-Match": etag}, body={
        "title": "Search tweak 1.1", "description": "Raised by mistake.", "release_type": "minor",
        "rfcs": [j.rfc], "planned_start": iso(j.start),
        "planned_end": iso(j.end), "acceptance_criteria": ""}).body
    assert replaced["title"] == "Search tweak 1.1"
    task = j.task("Tune the ranking", 12, assignee_user=cast.ids["deployer"])
    rm.put("/api/tasks/{id}/", path={"id": task}, body={
        "release": j.release, "title": "Tune the ranking weights", "description": "", "step": 12,
        "assignee_user": None, "assignee_team": cast.team_id, "assignee_vendor": None,
        "planned_start": j.at(4), "planned_end": j.until(4), "vendor_ticket_ref": ""})
    j.transition("rm", "cancel", resource="tasks", obj=task, reason="The release is withdrawn.")
    j.transition("rm", "cancel", reason="Raised by mistake; the RFC goes with another release.")
    assert j.states == ["cancelled"]


def cmdb_and_templates(cast: Cast):
    """The configuration manager keeps a CI (PATCH, PUT) and retires it; the
    release manager keeps a release template."""
    confman = cast["confman"]
    ci = confman.post("/api/cis/", body={"name": "legacy-cache", "ci_type": "server",
                                          "version": "1.0"}).body
    path = {"id": ci["id"]}
    etag = confman.get("/api/cis/{id}/", path=path).etag
    confman.patch("/api/cis/{id}/", path=path, headers={"If-Match": etag}, body={"version": "1.1"})
    confman.put("/api/cis/{id}/", path=path, body={"name": "legacy-cache", "ci_type": "server",
                                                    "version": "1.2", "owner": None, "attributes": {"rack": "B2"},
                                                    "depends_on": []})
    Journey(cast, "minor", "cmdb").transition("confman", "retire", resource="cis", obj=ci["id"])

    rm = cast["rm"]
    template = {"name": "Monthly minor", "release_type": "minor", "description": "The monthly fixes.",
                "active": True, "scope": "Monthly fixes.", "rollback_plan": "Redeploy the previous version.",
                "tasks": [{"title": "Deploy", "step": 12, "team": cast.team_id, "offset_start": "02:00:00",
                           "offset_end": "04:00:00"}],
                "test_cases": [{"name": "Smoke", "mandatory": True}]}
    created = rm.post("/api/release-templates/", body=template).body
    path = {"id": created["id"]}
    etag = rm.get("/api/release-templates/{id}/", path=path).etag
    rm.patch("/api/release-templates/{id}/", path=path, headers={"If-Match": etag}, body={"risks": "Low."})
    rm.put("/api/release-templates/{id}/", path=path, body={**template, "name": "Monthly minor (2)"})
    assert any(t["id"] == created["id"] for t in rm.get("/api/release-templates/").items())

    # The change manager approves it as a standard change for the CI, signed, and withdraws it, signed.
    cm = cast["cm"]
    standard = cm.post("/api/standard-changes/", body={"template": created["id"], "cis": [ci["id"]],
                                                       "signature": {"password": cast.password}}).body
    cm.get("/api/standard-changes/{id}/", path={"id": standard["id"]})
    cm.post("/api/standard-changes/{id}/withdraw/", path={"id": standard["id"]},
            body={"reason": "Replaced.", "signature": {"password": cast.password}})


def people_reports_and_audit(cast: Cast, api: Api):
    """Who am I, the reports (every metric as CSV) and the audit export."""
    rm = cast["rm"]
    me = rm.get("/api/users/me/").body
    assert "release_manager" in me["roles"]
    rm.get("/api/users/{id}/", path={"id": me["id"]})
    rm.get("/api/metrics/", query={"type": "minor"})
    metric = next(p for p in api.operation("GET /api/metrics/{metric}.csv").spec["parameters"]
                  if p["name"] == "metric")
    for name in metric["schema"]["enum"]:
        rm.get("/api/metrics/{metric}.csv", path={"metric": name})
    today = date.today()
    cast["cm"].get("/api/audit/evidence/", query={"from": str(today - timedelta(days=1)), "to": str(today)})


def sweep(api: Api, reader: Session, release_id: int, done: set[str]):
    """Read every GET operation not read yet (``done``: labels), its path
    parameters filled as a client does: a release's records from
    ``release_id``, an enum's first value, any other id from the first item
    of the collection above it. Operations with required query parameters
    are the journeys' to call. Refusals are left in the log."""
    for op in list(api.operations.values()):
        if op.method != "get" or op.label in done:
            continue
        if any(p.get("required") for p in op.parameters("query").values()) or op.label == "GET /api/gate/":
            continue  # the gate needs a release (or a CI and version) named in its query: asked by the tour
        path = {}
        for name in re.findall(r"\{(\w+)\}", op.template):
            value = _resolve(api, reader, op, name, path, release_id)
            if value is None:
                break
            path[name] = value
        else:
            reader.call(op.label, path=path, soft=True, note="sweep")


def _resolve(api: Api, reader: Session, op, name: str, path: dict, release_id: int):
    schema = op.parameters("path")[name].get("schema", {})
    if schema.get("enum"):
        return schema["enum"][0]
    collection = op.template[:op.template.index("{" + name + "}")]
    if collection == "/api/releases/" or name == "release_pk":
        return release_id
    label = f"GET {collection}"
    if not api.offers(label):
        return None
    try:
        items = reader.call(label, path=dict(path)).items()
    except UnexpectedAnswer:
        return None
    return items[0].get("id") if items else None

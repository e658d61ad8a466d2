"""Audit evidence export: the change-management trail of releases and RFCs as
one CSV, for auditors (SOX change-management controls: every change
authorised, tested and approved by someone other than its implementer).

Which releases: those created in the date range, or with any activity in it
(a transition of the release or of one of its RFCs, as logged in
``TransitionLog``), plus RFCs that belong to no release and were raised or
moved in the range. For each selected release *all* of its evidence is
exported, including what happened before or after the range, so that each
release's story is complete; an auditor filters on ``at`` if needed.

The CSV is in long format: one row per evidence item, the same columns for
every row (``COLUMNS``). ``evidence_type`` is one of ``EVIDENCE_TYPES``:

- ``rfc_authorisation``: an RFC's ``authorize`` or ``reject`` decision.
- ``cab_vote``: each CAB vote, with the plan version it was cast on.
- ``cab_decision``: the ``approve_plan`` / ``reject_plan`` transition.
- ``test_result``: each execution of a test case.
- ``go_no_go``: the Go/No-Go decision and its decider.
- ``deployment``: deployment started and completed (or reported failed),
  by whom, with any freeze-override reason and, when a pipeline ran it
  (the deployment gate), its run, commit, environment and log.
- ``health_check``, ``change_evaluation``, ``pir``, ``rollback_advice``: the
  checks and reviews after deployment.
- ``standard_change``: the signed standing approval (template, CIs) that
  approved the plan instead of CAB votes, and its withdrawal if any (the
  plan's ``cab_decision`` is then signed by method ``standing_approval``).
- ``transition``: every ``TransitionLog`` row of the release and its RFCs,
  i.e. the history.
- ``refused_attempt``: every ``RefusedAttempt`` on the release or its RFCs
  (someone tried a step their role or segregation of duties forbids).
- ``evidence_file``: each file attached to a record of the release, to its
  problem record or to an RFC, with its SHA-256 in ``file_sha256``
  (``audit.attachments``); superseded files too.

``independent`` is computed, never assumed, and is ``yes``/``no`` only on
rows that are controls (blank elsewhere):

- approvals (``rfc_authorisation``, ``cab_vote``, ``cab_decision``,
  ``go_no_go``): the actor is neither the release manager (the implementer)
  nor a proposer of an RFC concerned, that is its requester or whoever raised
  it in the requester's name (for ``rfc_authorisation`` that RFC; otherwise
  any RFC of the release);
- independent testing and review (``test_result``, ``pir``): the actor is not
  the release manager. (A requester testing their own change is user
  acceptance testing, which is not a conflict.)

``actor_roles`` are the actor's roles at export time (roles are groups and
have no history of their own). ``entry_point`` is, on ``refused_attempt``
rows, the door the attempt came through (``api``, ``ui``, ``admin``,
``command``, ...); blank elsewhere.

Who may export is decided here too (``export_check``), whatever the door:
the API, the page and the management command with ``--user`` all go
through ``evidence_export``.

Signed decisions (CAB votes and decisions, RFC authorisation and
rejection, Go/No-Go, rollback authorisation) carry their signature beside
them, from its record (``Signature``): ``signed_by``, ``signature_method``,
``signed_at`` and ``signature_fingerprint`` (SHA-256 of what was signed).
They are blank on rows that are not signed decisions; a signed decision
with them blank was taken before decisions were signed.

Queries: two to select, then sixteen per chunk of ``CHUNK_SIZE`` releases (+3 with a standard change),
whatever the number of RFCs, votes, tests or transitions; the CSV is
produced chunk by chunk so memory stays bounded on long ranges. On
PostgreSQL, outside any outer transaction, every query reads the same
snapshot (REPEATABLE READ, read-only), so a release moving on during the
export cannot appear half-updated.
"""
from __future__ import annotations

import contextlib
import csv
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone as dt_timezone
from typing import Iterable, Iterator

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import OuterRef, Q, Subquery

from changes.models import ChangeRequest
from releasemgmt.refusals import logs_refusals
from releasemgmt.workflow import ROLES, TransitionForbidden, has_any_role, name_of, specs
from releases.choices import DeploymentOutcome
from releases.models import (
    CabVote,
    ChangeEvaluation,
    Deployment,
    GoNoGoDecision,
    HealthCheck,
    PostImplementationReview,
    RefusedAttempt,
    Release,
    RollbackAdvice,
    Signature,
    TestResult,
    TransitionLog,
)

from .attachments import evidence_items
from .standing import standard_change_items

__all__ = ["COLUMNS", "EVIDENCE_TYPES", "EXPORTER_ROLES", "evidence_csv", "evidence_export", "evidence_rows",
           "export_check", "neutralise", "selected_release_ids"]

# Release and change managers own the change-management controls; auditors
# get their extracts through them (there is no auditor role in the process).
EXPORTER_ROLES = ("release_manager", "change_manager")

COLUMNS = (
    "release_number", "release_title", "release_type", "release_state", "release_created_at", "release_manager",
    "rfc_numbers", "requesters", "evidence_type", "subject", "subject_title", "step", "at", "actor",
    "actor_roles", "action", "from_state", "to_state", "outcome", "detail", "independent", "entry_point",
    "signed_by", "signature_method", "signed_at", "signature_fingerprint", "file_sha256",
)

EVIDENCE_TYPES = (
    "rfc_authorisation", "cab_vote", "cab_decision", "test_result", "go_no_go", "deployment", "health_check",
    "change_evaluation", "pir", "rollback_advice", "transition", "refused_attempt", "evidence_file",
    "standard_change",
)
APPROVALS = frozenset({"rfc_authorisation", "cab_vote", "cab_decision", "go_no_go", "standard_change"})
REVIEWS = frozenset({"test_result", "pir"})

CHUNK_SIZE = 500  # releases per round of queries: bounded memory, and few enough ids for any database's IN (...)

# Excel, LibreOffice and Google Sheets run a cell starting with one of these
# as a formula (OWASP "CSV injection"); full-width forms too in some locales.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n", "＝", "＋", "－", "＠")
BOM = "\ufeff"  # Excel reads the file as UTF-8 only with it


def neutralise(value) -> str:
    """A cell as text that a spreadsheet shows and never evaluates: a leading
    apostrophe before anything that would start a formula."""
    text = "" if value is None else str(value)
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


# --- selection ------------------------------------------------------------------------


def _logs_of(app_label: str, model: str):
    return TransitionLog.objects.filter(content_type__app_label=app_label, content_type__model=model)


def _visible(model, viewer):
    """The rows of ``model`` the viewer may see (releasemgmt.authz); all of
    them for the management command, whose operator reads the database."""
    return model.objects.all() if viewer is None else model.objects.restrict(viewer)


def _rfc_ids_active(start, end):
    return ChangeRequest.objects.filter(
        Q(created_at__range=(start, end))
        | Q(pk__in=_logs_of("changes", "changerequest").filter(at__range=(start, end)).values("object_id"))
    ).values("pk")


def selected_release_ids(start: datetime, end: datetime, viewer=None) -> list[int]:
    """Releases ``viewer`` may see created in [start, end] or with a
    transition of theirs or of one of their RFCs in it, by number. One query."""
    release_logs = _logs_of("releases", "release").filter(at__range=(start, end)).values("object_id")
    rfc_logs = _logs_of("changes", "changerequest").filter(at__range=(start, end)).values("object_id")
    links = Release.rfcs.through.objects.filter(changerequest_id__in=rfc_logs).values("release_id")
    return list(_visible(Release, viewer).filter(Q(created_at__range=(start, end)) | Q(pk__in=release_logs)
                                       | Q(pk__in=links)).order_by("pk").values_list("pk", flat=True))


def _standalone_rfc_ids(start, end, viewer=None) -> list[int]:
    """RFCs ``viewer`` may see in no release at all (pending, rejected,
    cancelled) that were raised or moved in the range: their authorisation
    trail counts too."""
    return list(_visible(ChangeRequest, viewer).filter(releases__isnull=True, pk__in=_rfc_ids_active(start, end))
                .order_by("pk").values_list("pk", flat=True))


# --- rows -----------------------------------------------------------------------------


@dataclass
class _Item:
    """One evidence row before the release columns are added."""

    evidence_type: str
    at: datetime | None
    actor_id: int | None
    subject: str
    subject_title: str
    step: object = ""
    action: str = ""
    from_state: str = ""
    to_state: str = ""
    outcome: str = ""
    detail: str = ""
    actor_name: str = ""  # only when the row keeps its own name (refused attempts)
    entry_point: str = ""  # refused attempts: the door they came through
    independent: bool | None = None
    order: int = 0
    signature: dict | None = None  # signer_username, method, at, fingerprint
    sha256: str = ""  # an evidence file's


def _iso(value) -> str:
    if value is None:
        return ""
    return value.astimezone(dt_timezone.utc).isoformat().replace("+00:00", "Z")


def _yes_no(value: bool | None) -> str:
    return "" if value is None else ("yes" if value else "no")


def _rfc_number(pk) -> str:
    return f"RFC-{pk:05d}"


def _release_number(pk) -> str:
    return f"REL-{pk:05d}"


def _release_steps() -> dict[str, int | None]:
    return {name: spec.step for name, spec in specs(Release).items()}


def _users(ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """username and roles (current groups; "superuser" for an admin) per user id. One query."""
    names: dict[int, str] = {}
    roles: dict[int, set] = defaultdict(set)
    for pk, username, superuser, group in (get_user_model().objects.filter(pk__in=set(ids))
                                           .values_list("pk", "username", "is_superuser", "groups__name")):
        names[pk] = username
        if superuser:
            roles[pk].add("superuser")
        if group in ROLES:
            roles[pk].add(group)
    return {pk: (name, " ".join(sorted(roles[pk]))) for pk, name in names.items()}


def _signature_cells(signature: dict | None) -> list[str]:
    if signature is None:
        return ["", "", "", ""]
    return [signature["signer_username"], signature["method"], _iso(signature["at"]), signature["fingerprint"]]


def _proposers(rfc) -> set:
    """Who proposed an RFC: its requester and whoever raised it in their name."""
    return {pk for pk in (rfc["requester_id"], rfc["raised_by_id"]) if pk is not None}


def _decision_names() -> tuple[frozenset, frozenset, frozenset]:
    """The signed decisions, as the declarations say: the CAB's on a plan,
    the Go/No-Go, and an RFC's authorisation or rejection."""
    release, rfc = specs(Release), specs(ChangeRequest)
    return (frozenset(n for n, s in release.items() if s.signed and s.step == CabVote.step),
            frozenset(n for n, s in release.items() if s.signed and s.step == GoNoGoDecision.step),
            frozenset(n for n, s in rfc.items() if s.signed))


@dataclass
class _Chunk:
    """A chunk's releases and RFCs, and their evidence items as they are
    read: per release, and per RFC (shown under each of its releases)."""

    release_ids: list[int]
    steps: dict
    releases: list[dict]
    rfcs_of: dict[int, list[int]]
    rfcs: dict[int, dict]
    actor_ids: set
    where: Q
    titles: dict
    signatures: dict[tuple[str, int], dict]
    by_release: dict[int, list[_Item]] = field(default_factory=lambda: defaultdict(list))  # items of the release
    by_rfc: dict[int, list[_Item]] = field(default_factory=lambda: defaultdict(list))  # items of an RFC
    completions: dict[tuple[int, datetime], int | None] = field(default_factory=dict)
    go_logs: dict[int, list] = field(default_factory=lambda: defaultdict(list))  # Go/No-Go log rows, in time order

    def subject(self, model, pk):
        return (_release_number(pk) if model == "release" else _rfc_number(pk)), self.titles.get((model, pk), "")

    def add(self, release_id, item):
        """An item of the release's own records."""
        self.actor_ids.add(item.actor_id)
        number, title = self.subject("release", release_id)
        item.subject, item.subject_title = item.subject or number, item.subject_title or title
        self.by_release[release_id].append(item)


def _read_chunk(release_ids: list[int], extra_rfc_ids: list[int]) -> _Chunk:
    """The releases, their RFCs and the release-less ones, and the signatures
    of their signed decisions."""
    steps = _release_steps()
    releases = list(Release.objects.filter(pk__in=release_ids).order_by("pk").values(
        "pk", "title", "release_type", "state", "created_at", "release_manager_id", "approved_plan_id",
        "standard_change_id"))
    rfcs_of: dict[int, list[int]] = defaultdict(list)
    for release_id, rfc_id in (Release.rfcs.through.objects.filter(release_id__in=release_ids)
                               .order_by("changerequest_id").values_list("release_id", "changerequest_id")):
        rfcs_of[release_id].append(rfc_id)
    rfc_ids = {i for ids in rfcs_of.values() for i in ids} | set(extra_rfc_ids)
    rfcs = {r["pk"]: r for r in ChangeRequest.objects.filter(pk__in=rfc_ids).values("pk", "title", "requester_id",
                                                                                     "raised_by_id")}
    actor_ids = {r["release_manager_id"] for r in releases} | {r["requester_id"] for r in rfcs.values()}

    where = (Q(content_type__app_label="releases", content_type__model="release", object_id__in=release_ids)
             | Q(content_type__app_label="changes", content_type__model="changerequest", object_id__in=rfc_ids))
    titles = {("release", r["pk"]): r["title"] for r in releases}
    titles.update({("changerequest", pk): r["title"] for pk, r in rfcs.items()})

    # The signatures of the chunk's signed decisions: transition log rows and CAB votes.
    signatures: dict[tuple[str, int], dict] = {}
    for sig in Signature.objects.filter(
            Q(content_type__app_label="releases", content_type__model="transitionlog",
              object_id__in=TransitionLog.objects.filter(where).values("pk"))
            | Q(content_type__app_label="releases", content_type__model="cabvote",
                object_id__in=CabVote.objects.filter(release_id__in=release_ids).values("pk"))).values(
            "content_type__model", "object_id", "signer_username", "method", "at", "fingerprint"):
        signatures[(sig.pop("content_type__model"), sig.pop("object_id"))] = sig
    return _Chunk(release_ids, steps, releases, rfcs_of, rfcs, actor_ids, where, titles, signatures)


def _history_items(chunk: _Chunk) -> None:
    """The transitions of the releases and RFCs (and the decisions among
    them), and the attempts refused on them."""
    steps, where, signatures, subject = chunk.steps, chunk.where, chunk.signatures, chunk.subject
    by_release, by_rfc, actor_ids = chunk.by_release, chunk.by_rfc, chunk.actor_ids
    cab_decisions, go_decisions, rfc_decisions = _decision_names()
    subject_of = {"release", "changerequest"}
    for log in TransitionLog.objects.filter(where).values(
            "pk", "content_type__model", "object_id", "name", "source", "target", "by_id", "at", "reason"):
        model, pk = log["content_type__model"], log["object_id"]
        if model not in subject_of:
            continue
        number, title = subject(model, pk)
        is_release = model == "release"
        target = by_release[pk] if is_release else by_rfc[pk]
        actor_ids.add(log["by_id"])
        common = dict(at=log["at"], actor_id=log["by_id"], subject=number, subject_title=title,
                      action=log["name"], from_state=log["source"], to_state=log["target"], detail=log["reason"],
                      signature=signatures.get(("transitionlog", log["pk"])))
        step = steps.get(log["name"], "") if is_release else ""
        target.append(_Item("transition", step=step, outcome=log["target"], order=1, **common))
        if is_release and log["name"] in cab_decisions:
            target.append(_Item("cab_decision", step=CabVote.step, outcome=log["target"], order=2, **common))
        if not is_release and log["name"] in rfc_decisions:
            target.append(_Item("rfc_authorisation", outcome=log["target"], order=2, **common))
        if is_release and log["name"] == name_of(Release.complete_deployment):
            chunk.completions[(pk, log["at"])] = log["by_id"]
        if is_release and log["name"] in go_decisions:
            chunk.go_logs[pk].append((log["at"], log["pk"]))

    for attempt in RefusedAttempt.objects.filter(where).values(
            "pk", "content_type__model", "object_id", "action", "code", "detail", "by_id", "username", "at",
            "entry_point"):
        model, pk = attempt["content_type__model"], attempt["object_id"]
        if model not in subject_of:
            continue
        number, title = subject(model, pk)
        actor_ids.add(attempt["by_id"])
        (by_release[pk] if model == "release" else by_rfc[pk]).append(_Item(
            "refused_attempt", at=attempt["at"], actor_id=attempt["by_id"], actor_name=attempt["username"],
            subject=number, subject_title=title, step=steps.get(attempt["action"], "") if model == "release" else "",
            action=attempt["action"], outcome=attempt["code"], detail=attempt["detail"],
            entry_point=attempt["entry_point"], order=0))


def _decision_items(chunk: _Chunk) -> None:
    """CAB votes, test results, Go/No-Go decisions and deployments."""
    release_ids, signatures, add = chunk.release_ids, chunk.signatures, chunk.add
    approved_plan = {r["pk"]: r["approved_plan_id"] for r in chunk.releases}
    for v in CabVote.objects.filter(release_id__in=release_ids).values(
            "pk", "release_id", "plan_id", "plan__version", "decision", "comment", "created_by_id", "created_at"):
        approved = " (the version approved)" if approved_plan.get(v["release_id"]) == v["plan_id"] else ""
        detail = f"plan v{v['plan__version']}{approved}" + (f": {v['comment']}" if v["comment"] else "")
        add(v["release_id"], _Item("cab_vote", v["created_at"], v["created_by_id"], "", "", step=CabVote.step,
                                   action="vote", outcome=v["decision"], detail=detail,
                                   signature=signatures.get(("cabvote", v["pk"]))))
    for t in TestResult.objects.filter(release_id__in=release_ids).values(
            "release_id", "test_case__name", "test_case__mandatory", "outcome", "notes", "created_by_id",
            "created_at"):
        kind = "mandatory" if t["test_case__mandatory"] else "optional"
        add(t["release_id"], _Item("test_result", t["created_at"], t["created_by_id"], "", "", step=TestResult.step,
                                   action=f"test: {t['test_case__name']}", outcome=t["outcome"],
                                   detail=f"{kind} test" + (f"; {t['notes']}" if t["notes"] else "")))
    # A Go/No-Go decision is written by its transition: the n-th decision of
    # a release is its n-th Go or No-Go transition, whose signature it carries.
    go_signatures = {rid: iter([signatures.get(("transitionlog", pk)) for _, pk in sorted(logs)])
                     for rid, logs in chunk.go_logs.items()}
    for d in GoNoGoDecision.objects.filter(release_id__in=release_ids).order_by("created_at", "pk").values(
            "release_id", "decision", "reason", "created_by_id", "created_at"):
        add(d["release_id"], _Item("go_no_go", d["created_at"], d["created_by_id"], "", "", step=GoNoGoDecision.step,
                                   action=name_of(Release.approve_go if d["decision"] == "go" else Release.no_go),
                                   outcome=d["decision"], detail=d["reason"], order=3,
                                   signature=next(go_signatures.get(d["release_id"], iter(())), None)))
    _deployment_items(chunk)
    standard_change_items(chunk, _Item)


def _deployment_items(chunk: _Chunk) -> None:
    """Each deployment: started (with the pipeline run and commit where a
    pipeline started it), and completed or reported failed (by whom: the
    record's history, read in the same query)."""
    add = chunk.add
    failed_by = Deployment.history.filter(id=OuterRef("pk"), outcome=DeploymentOutcome.FAILED).order_by(
        "history_date").values("history_user_id")[:1]
    for d in Deployment.objects.filter(release_id__in=chunk.release_ids).annotate(failed_by=Subquery(failed_by)).values(
            "release_id", "started_at", "completed_at", "freeze_override_reason", "notes", "created_by_id",
            "environment", "run_url", "commit", "failed_at", "log_url", "failed_by"):
        override = d["freeze_override_reason"]
        detail = "; ".join(f"{label}: {value}" for label, value in (
            ("freeze override", override), ("environment", d["environment"]), ("run", d["run_url"]),
            ("commit", d["commit"])) if value)
        add(d["release_id"], _Item("deployment", d["started_at"], d["created_by_id"], "", "", step=Deployment.step,
                                   action=name_of(Release.start_deployment), outcome="started", detail=detail,
                                   order=3))
        if d["failed_at"] is not None:
            add(d["release_id"], _Item("deployment", d["failed_at"], d["failed_by"], "", "", step=Deployment.step,
                                       action="report_failure", outcome="failed",
                                       detail=f"log: {d['log_url']}" if d["log_url"] else "", order=3))
        if d["completed_at"] is not None:
            # The completing transition stamps the record with its log's own time.
            add(d["release_id"], _Item("deployment", d["completed_at"],
                                       chunk.completions.get((d["release_id"], d["completed_at"])), "", "",
                                       step=Deployment.step, action=name_of(Release.complete_deployment),
                                       outcome="completed", order=3,
                                       detail="; ".join(v for v in (d["notes"], d["log_url"] and f"log: {d['log_url']}")
                                                        if v)))


def _review_items(chunk: _Chunk) -> None:
    """The checks and reviews after deployment."""
    release_ids, add = chunk.release_ids, chunk.add
    for h in HealthCheck.objects.filter(release_id__in=release_ids).values(
            "release_id", "passed", "details", "created_by_id", "created_at"):
        add(h["release_id"], _Item("health_check", h["created_at"], h["created_by_id"], "", "",
                                   step=HealthCheck.step, action="health_check",
                                   outcome="passed" if h["passed"] else "failed", detail=h["details"]))
    for e in ChangeEvaluation.objects.filter(release_id__in=release_ids).values(
            "release_id", "meets_objectives", "summary", "created_by_id", "created_at"):
        add(e["release_id"], _Item("change_evaluation", e["created_at"], e["created_by_id"], "", "",
                                   step=ChangeEvaluation.step, action="evaluate",
                                   outcome="meets objectives" if e["meets_objectives"] else "does not meet objectives",
                                   detail=e["summary"]))
    for p in PostImplementationReview.objects.filter(release_id__in=release_ids).values(
            "release_id", "outcome", "findings", "created_by_id", "created_at"):
        add(p["release_id"], _Item("pir", p["created_at"], p["created_by_id"], "", "",
                                   step=PostImplementationReview.step, action="review", outcome=p["outcome"],
                                   detail=p["findings"]))
    for a in RollbackAdvice.objects.filter(release_id__in=release_ids).values(
            "release_id", "advice", "created_by_id", "created_at"):
        add(a["release_id"], _Item("rollback_advice", a["created_at"], a["created_by_id"], "", "",
                                   step=RollbackAdvice.step, action="advise_rollback", outcome="rollback advised",
                                   detail=a["advice"]))


def _rows(chunk: _Chunk, extra_rfc_ids: list[int]) -> Iterator[list[str]]:
    """The chunk's items as rows, with their actors' names and roles and
    whether each control was independent."""
    releases, rfcs_of, rfcs = chunk.releases, chunk.rfcs_of, chunk.rfcs
    by_release, by_rfc = chunk.by_release, chunk.by_rfc
    users = _users(i for i in chunk.actor_ids if i is not None)

    def name(pk):
        return users.get(pk, ("", ""))[0] if pk is not None else ""

    def rows_for(head: list[str], items: list[_Item], manager_id, proposers_of):
        items.sort(key=lambda i: (i.at is None, i.at or datetime.min.replace(tzinfo=dt_timezone.utc), i.order))
        for item in items:
            actor = item.actor_id
            if item.evidence_type in APPROVALS:
                conflicted = {manager_id} | proposers_of(item)
                independent = actor is not None and actor not in conflicted
            elif item.evidence_type in REVIEWS:
                independent = actor is not None and actor != manager_id
            else:
                independent = None
            yield head + [
                item.evidence_type, item.subject, item.subject_title, "" if item.step is None else item.step,
                _iso(item.at), item.actor_name or name(actor), users.get(actor, ("", ""))[1] if actor else "",
                item.action, item.from_state, item.to_state, item.outcome, item.detail, _yes_no(independent),
                item.entry_point,
                *_signature_cells(item.signature), item.sha256,
            ]

    for release in releases:
        rid = release["pk"]
        own_rfcs = rfcs_of.get(rid, [])
        requesters = {rfcs[i]["requester_id"] for i in own_rfcs if i in rfcs}
        conflicted = set().union(*(_proposers(rfcs[i]) for i in own_rfcs if i in rfcs))
        rfc_proposers = {_rfc_number(i): _proposers(rfcs[i]) for i in own_rfcs if i in rfcs}
        head = [
            _release_number(rid), release["title"], release["release_type"], release["state"],
            _iso(release["created_at"]), name(release["release_manager_id"]),
            " ".join(_rfc_number(i) for i in own_rfcs),
            " ".join(sorted({name(r) for r in requesters})),
        ]
        items = list(by_release.get(rid, []))
        for rfc_id in own_rfcs:
            items += [_copy(i) for i in by_rfc.get(rfc_id, [])]

        def proposers_of(item, conflicted=conflicted, rfc_proposers=rfc_proposers):
            if item.evidence_type == "rfc_authorisation":
                return rfc_proposers.get(item.subject, set())
            return conflicted

        yield from rows_for(head, items, release["release_manager_id"], proposers_of)

    for rfc_id in extra_rfc_ids:
        rfc = rfcs.get(rfc_id)
        if rfc is None:
            continue
        head = ["", "", "", "", "", "", _rfc_number(rfc_id), name(rfc["requester_id"])]
        yield from rows_for(head, [_copy(i) for i in by_rfc.get(rfc_id, [])], None,
                            lambda item, r=rfc: _proposers(r))


def _chunk_rows(release_ids: list[int], extra_rfc_ids: list[int]) -> Iterator[list[str]]:
    """The rows of these releases, then of these release-less RFCs; a fixed
    number of queries whatever their size."""
    chunk = _read_chunk(release_ids, extra_rfc_ids)
    _history_items(chunk)
    _decision_items(chunk)
    _review_items(chunk)
    evidence_items(chunk, _Item)
    yield from _rows(chunk, extra_rfc_ids)


def _copy(item: _Item) -> _Item:
    # An RFC's items appear under each of its releases; sorting must not share state.
    return _Item(**item.__dict__)


def evidence_rows(start: datetime, end: datetime, viewer=None) -> Iterator[list[str]]:
    """Every evidence row (without the header), releases by number, each
    release's rows in time order, then the release-less RFCs: of what
    ``viewer`` may see (everything for the management command, ``None``)."""
    release_ids = selected_release_ids(start, end, viewer)
    for i in range(0, len(release_ids), CHUNK_SIZE):
        yield from _chunk_rows(release_ids[i:i + CHUNK_SIZE], [])
    standalone = _standalone_rfc_ids(start, end, viewer)
    for i in range(0, len(standalone), CHUNK_SIZE):
        yield from _chunk_rows([], standalone[i:i + CHUNK_SIZE])


@contextlib.contextmanager
def _snapshot():
    """One consistent read of the database for the whole export where the
    database offers it (PostgreSQL, not already inside a transaction)."""
    if connection.in_atomic_block or connection.vendor != "postgresql":
        yield
        return
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


class _Echo:
    """csv.writer writes into this and hands the line back, for streaming."""

    def write(self, value):
        return value


def evidence_csv(start: datetime, end: datetime, viewer=None) -> Iterator[str]:
    """The export as CSV text, line by line (header first, UTF-8 BOM before
    it); every cell neutralised against formula injection."""
    writer = csv.writer(_Echo())
    with _snapshot():
        yield BOM + writer.writerow(COLUMNS)
        for row in evidence_rows(start, end, viewer):
            yield writer.writerow([neutralise(cell) for cell in row])


# --- who may export -------------------------------------------------------------------


@logs_refusals()
def export_check(*, by) -> None:
    """Release and change managers export the evidence (auditors get it
    through them)."""
    if not has_any_role(by, EXPORTER_ROLES):
        raise TransitionForbidden("export_audit_evidence",
                                  "Only a change manager or release manager may export audit evidence.")


def evidence_export(*, by, start: datetime, end: datetime) -> Iterator[str]:
    """The export of ``start``..``end`` for ``by``, of what ``by`` may see:
    refused (and the refusal kept) now, before a line is produced, unless
    they may export."""
    export_check(by=by)
    return evidence_csv(start, end, viewer=by)

"""What each signed decision of a release is about: the content its
signature's fingerprint covers (``releasemgmt.signing``).

Each function takes the release as it stands when the decision is taken
(before the transition moves it) and returns plain values: numbers,
strings, booleans, times, lists and dicts of them. The transitions name
them in their ``custom={"signed": ...}``; a CAB vote uses ``plan_decision``.
"""
from __future__ import annotations

PLAN_CONTENT = ("scope", "deployment_start", "deployment_end", "deployment_approach", "risks", "teams",
                "downtime_expected", "notes")


def _release(release) -> dict:
    return {"release": release.number, "release_id": release.pk, "release_type": release.release_type,
            "state": release.state}


def plan(plan) -> dict | None:
    """A plan version: which one, and its whole text."""
    if plan is None:
        return None
    return {"plan_id": plan.pk, "version": plan.version, **{name: getattr(plan, name) for name in PLAN_CONTENT}}


def plan_decision(release, plan_version) -> dict:
    """A CAB vote or decision on ``plan_version``: the plan, with what the CAB
    decides on beside it (the release's type and RFCs)."""
    return {**_release(release), "rfcs": sorted(rfc.number for rfc in release.rfcs.all()),
            "plan": plan(plan_version)}


def plan_under_review(release) -> dict:
    """``approve_plan`` and ``reject_plan``: the plan version before the CAB."""
    return plan_decision(release, release.current_plan)


def go_decision(release) -> dict:
    """``approve_go`` and ``no_go``: the release, the approved plan and the
    deployment readiness assessment the decision is taken on."""
    assessment = release.latest("readiness_assessments")
    return {
        **_release(release),
        "approved_plan": plan(release.approved_plan),
        "current_plan_version": getattr(release.current_plan, "version", None),
        "readiness_assessment": None if assessment is None else {
            "id": assessment.pk, "risks": assessment.risks, "issues": assessment.issues,
            "recommendation": assessment.recommendation, "by": assessment.created_by.get_username(),
        },
    }


def rollback_authorisation(release) -> dict:
    """``rollback``: the release as deployed, the advice to roll back, the
    rollback plan to follow and the baseline it restores."""
    rollback_plan = release.rollback_plan
    baseline = release.pre_release_baseline
    return {
        **_release(release),
        "rollback_advice": [{"id": a.pk, "advice": a.advice, "by": a.created_by.get_username()}
                            for a in sorted(release.rollback_advice.all(), key=lambda a: (a.created_at, a.pk))],
        "rollback_plan": None if rollback_plan is None else {
            "id": rollback_plan.pk, "content": rollback_plan.content, "verification": rollback_plan.verification,
            "verification_notes": rollback_plan.verification_notes,
        },
        "pre_release_baseline": None if baseline is None else {"id": baseline.pk, "name": baseline.name},
    }

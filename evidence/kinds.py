"""What takes evidence files, and who may attach them.

The step records that are evidence of a step (the build document, the
security and prerequisite checks, the test results, readiness, the backup,
the deployment, the health check, the PIR, the rollback plan), named as the
API names them (``releases.models.RECORD_TYPES``), and RFCs and problem
records. Whoever may write a kind of record may attach its files, and the
release manager, who answers for the release's evidence; the deployment,
which its transitions write, takes the deployment team's.
"""
from __future__ import annotations

from dataclasses import dataclass

from changes.models import ChangeRequest, Problem
from releases.models import RECORD_TYPES, Deployment

STEP_RECORDS = ("build_documents", "security_checks", "prerequisite_checks", "test_results",
                "environment_readiness", "readiness_assessments", "backups", "deployments", "health_checks",
                "reviews", "rollback_plans")


@dataclass(frozen=True)
class Kind:
    name: str  # as the API names it: a record type, or "rfc" / "problem"
    model: type
    owner: str  # the field of EvidenceFile naming what the file is seen with
    attachers: tuple[str, ...]  # roles

    @property
    def verbose(self) -> str:
        return str(self.model._meta.verbose_name)


def _step_kind(record_type: str) -> Kind:
    model = RECORD_TYPES[record_type]
    extra = ("deployment_team",) if model is Deployment else ()
    return Kind(record_type, model, "release", tuple(dict.fromkeys((*model.writers, *extra, "release_manager"))))


KINDS: dict[str, Kind] = {
    **{rt: _step_kind(rt) for rt in STEP_RECORDS},
    # An RFC's requester may attach too (services.attach_check).
    "rfc": Kind("rfc", ChangeRequest, "rfc", ("change_manager", "release_manager")),
    "problem": Kind("problem", Problem, "problem", ("change_manager", "release_manager")),
}

_BY_MODEL = {kind.model: kind for kind in KINDS.values()}


def kind_of_model(model) -> Kind | None:
    return _BY_MODEL.get(model)

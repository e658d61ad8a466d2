"""What a pipeline does at the gate: start a release's deployment, report how
it ended, and the tokens it does so with.

Nothing here moves a release by itself: a start is ``start_deployment`` and
a success ``complete_deployment``, taken through the release process's one
service (``releases.services.release_transition``: role, guards, history,
log, effects, notifications, stays); a failure is recorded by
``releases.services.deployment_fail``. So whatever a pipeline does is in the
history, the audit export and the metrics like any other step.
"""
from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from releasemgmt import refusals
from releasemgmt.refusals import logs_refusals
from releasemgmt.workflow import TransitionBlocked, TransitionForbidden, has_any_role, name_of, roles_text, specs
from releases import services as release_services
from releases.choices import DeploymentOutcome
from releases.models import Deployment, Release

from . import gate
from .models import PipelineToken

SERVICE_ACCOUNT_ROLE = "deployment_team"
TOKEN_ADMIN_PERMISSION = "pipelines.add_pipelinetoken"


class GateClosed(TransitionBlocked):
    """The gate does not allow the deployment: 409 with its blockers; its
    ``code`` is the decision (``awaiting`` or ``prevented``)."""


@logs_refusals()
def deployment_start_check(*, by) -> None:
    """403 before a start is read, for whoever holds none of the roles that
    start deployments (the refusal kept); the service asks again, on the release."""
    start = gate.start_spec()
    if not callable(start.roles) and not has_any_role(by, start.roles):
        raise TransitionForbidden(start.name, f"Only {roles_text(start.roles)} may perform “{start.title}”.")


def deployment_start(*, release: Release, by, environment: str, run_url: str = "", commit: str = "") -> Deployment:
    """Start ``release``'s deployment for a pipeline when the gate allows it:
    403 (kept as a refused attempt) for a user whose role may not start
    deployments, 409 with the gate's blockers otherwise, nothing changed.
    The deployment record (written by the step) names the run and commit."""
    start = gate.start_spec()
    refusals.transition_check(obj=release, spec=start, by=by)
    decision = gate.decide(release, by, environment=environment)
    if not decision.allowed:
        raise GateClosed(start.name, _summary(decision), decision.blockers, code=decision.decision)
    # What the step's effect writes on the deployment record (and the
    # transition log keeps as the step's payload).
    payload = {"environment": environment, "run_url": run_url, "commit": commit}
    # Under the release's row lock, run_transition checks the state and every
    # guard again: of two pipelines racing, one starts, the other gets 409.
    release_services.release_transition(release_id=release.pk, name=start.name, by=by, **payload)
    return Deployment.objects.filter(release_id=release.pk).order_by("-pk").first()


def _summary(decision) -> str:
    first = decision.blockers[0].message if decision.blockers else ""
    more = f" (and {len(decision.blockers) - 1} more)" if len(decision.blockers) > 1 else ""
    return f"The gate answers {decision.decision}: {first}{more}"


def deployment_finish_check(*, deployment: Deployment, by) -> None:
    """Whether ``by`` may report how ``deployment`` ended (the roles that
    complete a deployment): asked before the body is read, the refusal kept."""
    release = deployment.release
    refusals.transition_check(obj=release, spec=specs(Release)[name_of(Release.complete_deployment)], by=by)


def deployment_finish(*, deployment: Deployment, by, outcome: str, log_url: str = "") -> Deployment:
    """The deployment ended. ``succeeded``: the release completes it
    (``complete_deployment``, guards included: its deployment tasks done).
    ``failed``: recorded as failed, so it is never completed and the release
    does not reach its health check; the delivery and change managers are
    asked for their advice on a rollback (step 17)."""
    if outcome == DeploymentOutcome.SUCCEEDED:
        payload = {"log_url": log_url} if log_url else {}
        release_services.release_transition(release_id=deployment.release_id,
                                            name=name_of(Release.complete_deployment), by=by, **payload)
    elif outcome == DeploymentOutcome.FAILED:
        release_services.deployment_fail(release_id=deployment.release_id, deployment_id=deployment.pk, by=by,
                                         log_url=log_url)
    else:
        raise ValidationError({"outcome": f"Say '{DeploymentOutcome.SUCCEEDED}' or '{DeploymentOutcome.FAILED}'."})
    return Deployment.objects.select_related("release").get(pk=deployment.pk)


# --- tokens ---------------------------------------------------------------------------------


def _require_token_admin(by, action):
    if not (getattr(by, "is_active", False) and by.has_perm(TOKEN_ADMIN_PERMISSION)):
        raise TransitionForbidden(action, "Only an administrator who may add pipeline tokens may manage them.")


@logs_refusals()
def token_create_check(*, by) -> None:
    """Whether ``by`` may create pipeline tokens (asked by the admin first)."""
    _require_token_admin(by, "create_pipeline_token")


@logs_refusals()
@transaction.atomic
def token_create(*, name: str, user, by) -> tuple[PipelineToken, str]:
    """A token for a pipeline acting as ``user``, a service account holding
    the deployment team's role (and not a superuser, who holds every role);
    returned with its key, the one time it is seen."""
    _require_token_admin(by, "create_pipeline_token")
    if user.is_superuser or not has_any_role(user, (SERVICE_ACCOUNT_ROLE,)):
        raise ValidationError({"user": "A pipeline acts as a service account holding the deployment team's role, "
                                       "and not as a superuser."})
    token = PipelineToken(name=name, user=user, created_by=by)
    key = token.set_new_key()
    token.full_clean()
    token._history_user = by
    token.save()
    return token, key


@logs_refusals(subject=lambda kw: (PipelineToken, kw["token_id"]))
@transaction.atomic
def token_revoke(*, token_id, by) -> PipelineToken:
    """Revoke a token at once: the gate refuses it from then on."""
    _require_token_admin(by, "revoke_pipeline_token")
    token = PipelineToken.objects.select_for_update().get(pk=token_id)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token._history_user = by
        token._change_reason = "revoke"
        token.save()
    return token

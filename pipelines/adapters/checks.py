"""The adapters' checks answered: each deployment a platform asked about
gets the gate's decision, ``approved`` when it allows the deployment and
``rejected`` with the blockers when it prevents it. While the gate says
``awaiting`` the check waits; ``answer_due`` (the periodic task
``pipelines.tasks.answer_adapter_checks``, or in process after a release
moves when there is no broker) asks the gate again. The answer is sent
outside any transaction, retried with a backoff when the platform cannot be
reached, and never sent twice.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .. import gate
from ..adapter_models import AdapterCheck, CheckState
from . import github, gitlab
from .common import BACKOFF_SECONDS, MAX_ATTEMPTS, SEND_LEASE_SECONDS, Question, SendFailed, release_for, verdict

log = logging.getLogger(__name__)

SENDERS = {"github": github.send_answer, "gitlab": gitlab.send_answer}


def answer_in_process(*, check_id=None, release_id=None) -> None:
    """Without a broker (``make run``), answer right after the commit; with one
    the periodic task does, and no request waits on a platform."""
    from releasemgmt.celery import app

    if app.conf.task_always_eager:
        answer_due(check_id=check_id, release_id=release_id)


def on_release_event(event) -> None:
    """A release moved: its waiting checks may be answerable now. Without a
    broker they are asked again after the commit (no query here: a
    transition costs nothing more). The gate's own answers are no move:
    a pipeline polling it does not set the adapters asking again."""
    if event.name == gate.GATE_DECIDED:
        return
    release_id = event.obj.pk
    transaction.on_commit(lambda: answer_in_process(release_id=release_id))


def answer_due(*, limit: int = 200, check_id=None, release_id=None) -> int:
    """Ask the gate again for the checks that are due (or for one check, or
    the waiting checks of one release, due or not); answer those it decides.
    Returns how many answers went out."""
    now = timezone.now()
    due = AdapterCheck.objects.filter(state__in=(CheckState.WAITING, CheckState.ANSWERING))
    if check_id is not None:
        due = due.filter(pk=check_id, next_attempt_at__lte=now)
    elif release_id is not None:
        due = due.filter(release_id=release_id, state=CheckState.WAITING)
    else:
        due = due.filter(next_attempt_at__lte=now)
    ids = list(due.order_by("next_attempt_at", "pk").values_list("pk", flat=True)[:limit])
    return sum(1 for pk in ids if answer_check(pk))


def answer_check(pk: int) -> bool:
    """Decide (in a short transaction), send (outside any), settle."""
    check = _claim(pk)
    if check is None:
        return False
    send = SENDERS[check.adapter.kind]
    try:
        send(check)
    except SendFailed as exc:
        _settle(check, error=str(exc)[:2000], permanent=exc.permanent)
        return False
    _settle(check, error=None)
    return True


def _claim(pk: int) -> AdapterCheck | None:
    """The check, decided and leased to this sender; None if the gate still
    says ``awaiting`` (the check waits on), or another sender holds it."""
    now = timezone.now()
    with transaction.atomic():
        check = (AdapterCheck.objects.select_for_update(skip_locked=True, of=("self",))
                 .select_related("adapter", "adapter__user").filter(pk=pk).first())
        if check is None or check.state not in (CheckState.WAITING, CheckState.ANSWERING):
            return None
        if check.state == CheckState.WAITING:
            if not _decide(check, now):
                check.save()
                return None
        check.state = CheckState.ANSWERING
        check.attempts += 1
        check.next_attempt_at = now + timedelta(seconds=SEND_LEASE_SECONDS)
        check.save()
        return check


def _decide(check: AdapterCheck, now) -> bool:
    """Put the gate's decision on the check; False while it is ``awaiting``
    (and the wait has not run out)."""
    adapter = check.adapter
    asked = Question(check.environment, check.release_ref, check.ci, check.version)
    release = None if gate.not_gated(asked.environment) else release_for(adapter, asked)
    decision = gate.decide(release, adapter.user, environment=asked.environment, ci=asked.ci)
    check.release = release
    check.decision = decision.decision
    waited = now - check.created_at
    if decision.decision == gate.AWAITING and waited < timedelta(hours=settings.ADAPTER_MAX_WAIT_HOURS):
        check.next_attempt_at = now + timedelta(seconds=settings.ADAPTER_POLL_SECONDS)
        return False
    check.answer, check.comment = verdict(decision, waited_out=decision.decision == gate.AWAITING)
    return True


def _settle(claimed: AdapterCheck, *, error: str | None, permanent: bool = False) -> None:
    now = timezone.now()
    with transaction.atomic():
        check = AdapterCheck.objects.select_for_update().get(pk=claimed.pk)
        if check.state != CheckState.ANSWERING:
            return
        if error is None:
            check.state, check.answered_at, check.last_error = CheckState.ANSWERED, now, ""
            check.next_attempt_at = None
        else:
            check.last_error = error
            if permanent or check.attempts >= MAX_ATTEMPTS:
                check.state, check.next_attempt_at = CheckState.FAILED, None
                log.warning("adapter check %s: the answer could not be sent: %s", check.pk, error)
            else:
                check.next_attempt_at = now + timedelta(seconds=BACKOFF_SECONDS * 2 ** (check.attempts - 1))
        check.save()

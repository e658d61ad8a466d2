"""What the GitHub and GitLab adapters share.

* The mapping of a platform's deployment to the gate's question: the
  environment (``PipelineAdapter.environments``), the release named by the
  deployment, or the configuration item (``repositories``) and the version
  (``version_from``: the ref, a leading ``v`` dropped from ``v2.4``, or the
  commit).
* The replay ledger: a delivery id taken twice is refused, nothing changed.
* The checks: each deployment asked about is answered with the gate's
  decision, ``approved`` when it allows the deployment and ``rejected`` with
  the blockers when it prevents it. While the gate says ``awaiting`` the
  check waits; ``answer_due`` (the periodic task ``answer_adapter_checks``,
  or in process after a release moves when there is no broker) asks the gate
  again. The answer is sent outside any transaction, retried with a backoff
  when the platform cannot be reached, and never sent twice.
"""
from __future__ import annotations

import json
import logging
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from releasemgmt.errors import Blocker
from releases.models import Release

from .. import gate
from ..adapter_models import AdapterCheck, AdapterDelivery, CheckState, PipelineAdapter, VersionFrom

log = logging.getLogger(__name__)

APPROVED, REJECTED = "approved", "rejected"
MAX_ATTEMPTS = 8
BACKOFF_SECONDS = 15
# While an answer is on its way, the check is not due again for this long (a
# lease: a worker killed mid-send leaves it due once more).
SEND_LEASE_SECONDS = 60
COMMENT_LIMIT = 2000
TIMEOUT_SECONDS = 10.0


class Replayed(Exception):
    """This delivery id was taken before."""


# --- the mapping ------------------------------------------------------------------------------


@dataclass
class Question:
    """What the gate is asked about a platform's deployment."""

    environment: str
    release_ref: str = ""
    ci: str = ""
    version: str = ""


def question(adapter: PipelineAdapter, *, environment: str, repository: str, ref: str, sha: str,
             release_ref: str = "") -> Question:
    """The gate's question for a deployment of ``repository`` at ``ref`` /
    ``sha`` to the platform's ``environment``."""
    mapped = adapter.environments.get(environment, environment) if isinstance(adapter.environments, dict) \
        else environment
    if release_ref and gate.release_pk(str(release_ref)) is not None:
        return Question(str(mapped), release_ref=str(release_ref))
    repositories = adapter.repositories if isinstance(adapter.repositories, dict) else {}
    ci = repositories.get(repository) or repository.rsplit("/", 1)[-1]
    version = sha if adapter.version_from == VersionFrom.SHA else version_of(ref)
    return Question(str(mapped), ci=str(ci), version=version)


def version_of(ref: str) -> str:
    """``refs/tags/v2.4`` and ``v2.4`` give ``2.4``; a branch gives its name."""
    name = re.sub(r"^refs/(tags|heads)/", "", ref or "")
    return name[1:] if re.fullmatch(r"v\d.*", name) else name


def release_for(adapter: PipelineAdapter, asked: Question) -> Release | None:
    """The release the deployment is of, among those the adapter's account may read."""
    user = adapter.user
    if asked.release_ref:
        return Release.objects.restrict(user).filter(pk=gate.release_pk(asked.release_ref)).first()
    return gate.open_release_for(user, asked.ci, asked.version)


# --- the replay ledger --------------------------------------------------------------------------


def take_delivery(adapter: PipelineAdapter, delivery_id: str, event: str) -> AdapterDelivery:
    """Record the delivery (inside the caller's transaction); ``Replayed`` when
    its id was taken before."""
    try:
        with transaction.atomic():
            return AdapterDelivery.objects.create(adapter=adapter, delivery_id=delivery_id, event=event[:100])
    except IntegrityError:
        raise Replayed(delivery_id) from None


# --- the checks -------------------------------------------------------------------------------


def open_check(adapter: PipelineAdapter, delivery: AdapterDelivery, asked: Question, *, reference: str,
               target: dict) -> AdapterCheck:
    """A check for the deployment, due at once; answered after the commit when
    tasks run in process, else by the next run of the periodic task."""
    check = AdapterCheck.objects.create(
        adapter=adapter, delivery=delivery, reference=reference[:300], environment=asked.environment[:100],
        release_ref=asked.release_ref[:30], ci=asked.ci[:200], version=asked.version[:100], target=target,
        next_attempt_at=timezone.now())
    transaction.on_commit(lambda: answer_in_process(check_id=check.pk))
    return check


def answer_in_process(*, check_id=None, release_id=None) -> None:
    """Without a broker (``make run``), answer right after the commit; with one
    the periodic task does, and no request waits on a platform."""
    from releasemgmt.celery import app

    if app.conf.task_always_eager:
        answer_due(check_id=check_id, release_id=release_id)


def on_release_event(event) -> None:
    """A release moved: its waiting checks may be answerable now. Without a
    broker they are asked again after the commit (no query here: a
    transition costs nothing more)."""
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
    from . import github, gitlab

    send = {"github": github.send_answer, "gitlab": gitlab.send_answer}[check.adapter.kind]
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
    decision = gate.decide(release, adapter.user, environment=asked.environment)
    check.release = release
    check.decision = decision.decision
    waited = now - check.created_at
    if decision.decision == gate.AWAITING and waited < timedelta(hours=settings.ADAPTER_MAX_WAIT_HOURS):
        check.next_attempt_at = now + timedelta(seconds=settings.ADAPTER_POLL_SECONDS)
        return False
    check.answer, check.comment = verdict(decision, waited_out=decision.decision == gate.AWAITING)
    return True


def verdict(decision: gate.Decision, *, waited_out: bool = False) -> tuple[str, str]:
    """The answer and its comment: the release, the decision and its blockers
    in the guards' own words."""
    release = decision.release
    name = release.number if release is not None else "No release"
    if decision.allowed:
        if not decision.gated:
            return APPROVED, f"{decision.environment} is not gated by the release process: allowed."
        return APPROVED, f"{name} may deploy now: the release process's deployment gate answers allowed."
    head = (f"{name}: still awaiting after {settings.ADAPTER_MAX_WAIT_HOURS:g} h"
            if waited_out else f"{name}: the release process's deployment gate answers {decision.decision}")
    comment = "\n".join([f"{head}.", *(f"- {b.code}: {b.message}" for b in decision.blockers)])
    return REJECTED, comment[:COMMENT_LIMIT]


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


# --- talking to the platform ----------------------------------------------------------------


class SendFailed(Exception):
    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


def under(url: str, base_url: str) -> bool:
    """Whether ``url`` is on the adapter's host, under its base path: its
    token is never sent anywhere else, whatever a payload names."""
    target, base = urllib.parse.urlsplit(url), urllib.parse.urlsplit(base_url.rstrip("/") + "/")
    return ((target.scheme, target.netloc) == (base.scheme, base.netloc) and "@" not in target.netloc
            and ".." not in target.path.split("/") and target.path.startswith(base.path))


def post_json(url: str, body: dict, headers: dict[str, str]) -> None:
    """POST ``body``; ``SendFailed`` (permanent for a 4xx other than 408 and
    429: the platform will not take it however often it is sent)."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 - admin's base URL
            response.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read()[:500].decode(errors="replace")
        raise SendFailed(f"HTTP {exc.code}: {detail}", permanent=400 <= exc.code < 500 and exc.code not in (408, 429)
                         ) from exc
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise SendFailed(f"unreachable: {exc}") from exc


def blockers_text(blockers: list[Blocker]) -> str:
    return "; ".join(f"{b.code}: {b.message}" for b in blockers)

"""What the GitHub and GitLab adapters share.

* The mapping of a platform's deployment to the gate's question: the
  environment (``PipelineAdapter.environments``), the release named by the
  deployment, or the configuration item (``repositories``) and the version
  (``version_from``: the ref, a leading ``v`` dropped from ``v2.4``, or the
  commit).
* The replay ledger: a delivery id taken twice is refused, nothing changed.
* A check opened for each deployment asked about, and the answer it gets
  (``verdict``), which ``checks`` sends.
* The HTTP call to the platform, only under the adapter's base URL.
"""
from __future__ import annotations

import json
import logging
import re
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from releasemgmt.errors import Blocker
from releases.models import Release

from .. import gate
from ..adapter_models import AdapterCheck, AdapterDelivery, PipelineAdapter, VersionFrom

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
    """A check for the deployment, due at once (``checks.answer_due``)."""
    return AdapterCheck.objects.create(
        adapter=adapter, delivery=delivery, reference=reference[:300], environment=asked.environment[:100],
        release_ref=asked.release_ref[:30], ci=asked.ci[:200], version=asked.version[:100], target=target,
        next_attempt_at=timezone.now())


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

"""The deployment gate: may this release start its deployment now?

A pipeline names a release (by id or number) or a configuration item and the
version it deploys, and an environment. The answer is one of three:

* ``allowed``: the release stands where its deployment starts (Go given,
  backup recorded: ``start_deployment``'s source) and every guard of
  ``start_deployment`` holds for the asking user: inside the planned window,
  no freeze, no conflicting release, downtime broadcast where expected.
* ``awaiting``: the release is on its way; the pipeline should wait. The
  blockers name the next step of the process (``awaiting_<step>``) and what
  that step's own guards still miss, e.g. Go not given yet, or no verified
  backup; once Go is given, ``start_deployment``'s guards are read too.
* ``prevented``: it cannot deploy, however long the pipeline waits: a No-Go,
  a release cancelled, closed, rolled back or already deploying, a freeze,
  outside its window, a conflicting release, a user whose role may not
  start deployments, or no open release for that CI and version.

The blockers are the guards' own (``releasemgmt.workflow.evaluate``, worded
for the asking user), as the release page, the transition list and a 409
show them, so the pipeline's log says what a release manager reads.

Only the environments in ``settings.GATED_ENVIRONMENTS`` (``GATE_ENVIRONMENTS``:
by default ``production``) are gated; any other is ``allowed`` at once,
without looking a release up, and the answer says it is not gated.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache

from django.conf import settings
from django.db.models import prefetch_related_objects

from releasemgmt import events
from releasemgmt.authz import redact
from releasemgmt.errors import Blocker
from releasemgmt.input_guard import parse_id
from releasemgmt.workflow import Spec, evaluate, may_act, name_of, roles_text, specs
from releases.choices import GoDecision, ReleaseState
from releases.models import Release, StandardChange

ALLOWED, AWAITING, PREVENTED = "allowed", "awaiting", "prevented"
DECISIONS = (ALLOWED, AWAITING, PREVENTED)

# Blockers no wait will lift: the gate answers ``prevented`` when one stands.
# (The other guards' blockers say what is still to be done: ``awaiting``.)
PREVENTING = frozenset({
    "invalid_state", "no_go", "no_open_release", "role_forbidden",
    "outside_window", "freeze_window", "release_conflict",
})

# A release no longer open: the gate does not pick it for a CI and version.
FINISHED = (ReleaseState.CLOSED, ReleaseState.CANCELLED)

NUMBER = re.compile(r"REL-0*(\d{1,19})", re.IGNORECASE)


@dataclass
class Decision:
    decision: str
    environment: str
    gated: bool = True
    release: Release | None = None
    blockers: list[Blocker] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        return self.decision == ALLOWED

    @property
    def window(self) -> dict | None:
        """The window ``start_deployment`` requires (guard ``inside_window``):
        the release's planned window."""
        if self.release is None:
            return None
        return {"start": self.release.planned_start, "end": self.release.planned_end}

    def as_dict(self) -> dict:
        release = self.release
        return {
            "decision": self.decision,
            "environment": self.environment,
            "gated": self.gated,
            "release": None if release is None else {"id": release.pk, "number": release.number,
                                                     "state": release.state},
            "blockers": [b.as_dict() for b in self.blockers],
            "window": self.window,
        }


# What the gate announces (``releasemgmt.events``) when it answers about a
# release: the tools subscribed to gate decisions hear of it.
GATE_DECIDED = "gate_decision"


def announce(decision: Decision, by) -> None:
    """Tell the listeners that the gate answered ``by`` about a release (an
    environment that is not gated, or no release found, concerns none)."""
    if decision.release is not None:
        events.announce(decision.release, GATE_DECIDED, by=by, payload=decision.as_dict())


# --- the way to the deployment, read from the declarations -------------------------------------


def start_spec() -> Spec:
    return specs(Release)[name_of(Release.start_deployment)]


def forward_step(state: str) -> Spec | None:
    """The step that takes a release on from ``state`` (not a setback such as
    a rejection, a No-Go or a cancellation)."""
    for spec in specs(Release).values():
        if state in spec.sources and not spec.setback and not spec.internal:
            return spec
    return None


@cache
def way_to_deployment() -> tuple[str, ...]:
    """The states a release passes through before its deployment starts, in
    order, up to the one ``start_deployment`` is taken from."""
    start = start_spec()
    states, state = [], ReleaseState.NEW.value
    while state not in start.sources:
        states.append(state)
        state = forward_step(state).target
    return tuple(states) + (state,)


@cache
def go_given() -> frozenset[str]:
    """The states on the way after the Go decision: from there on the gate
    reads ``start_deployment``'s own guards (freeze, window, ...) as well."""
    way = way_to_deployment()
    return frozenset(way[way.index(specs(Release)[name_of(Release.approve_go)].target):])


# --- the decision ---------------------------------------------------------------------------


def not_gated(environment: str) -> bool:
    return environment.strip().lower() not in settings.GATED_ENVIRONMENTS


def decide(release: Release | None, user, *, environment: str, ci: str | None = None) -> Decision:
    """What the gate answers ``user`` about ``release`` (None: no open
    release was found for the CI and version asked about, ``ci``)."""
    if not_gated(environment):
        return Decision(ALLOWED, environment, gated=False)
    if release is None:
        return Decision(PREVENTED, environment, blockers=[no_open_release(user, ci)])
    blockers = blockers_for(release, user)
    if not blockers:
        verdict = ALLOWED
    elif any(b.code in PREVENTING for b in blockers):
        verdict = PREVENTED
    else:
        verdict = AWAITING
    return Decision(verdict, environment, release=release, blockers=blockers)


def blockers_for(release: Release, user) -> list[Blocker]:
    """What stands between ``release`` and the start of its deployment by
    ``user``, as the guards word it for them."""
    start = start_spec()
    state = release.state
    if state not in way_to_deployment():
        # Past it (deploying, deployed, ...), rolled back, closed or cancelled:
        # the words run_transition refuses the step with.
        return [Blocker("invalid_state", f"'{start.name}' is not possible while the release is '{state}'.")]
    blockers = []
    if state == ReleaseState.PLANS_UPDATED:
        no_go = _no_go_since_preparation(release)
        if no_go is not None:
            reason = f": {no_go.reason}" if no_go.reason.strip() else "."
            blockers.append(Blocker("no_go", f"No-Go decided on {no_go.created_at:%Y-%m-%d %H:%M} UTC{reason}"))
    if not may_act(release, start, user):
        blockers.append(Blocker("role_forbidden", f"Only {roles_text(start.roles_for(release))} may perform "
                                                  f"“{start.title}”."))
    if state not in start.sources:
        step = forward_step(state)
        blockers.append(Blocker(f"awaiting_{step.name}", f"The release stands at “{release.get_state_display()}”: "
                                                         f"“{step.title}” (step {step.step}) comes next."))
        # The next step's guards, whoever takes it (not the pipeline).
        blockers.extend(redact(evaluate(release, step, None), user))
    if state in go_given():
        # The deployment's guards read the plan (window, downtime) and the
        # scope (freezes, conflicts) more than once: read each once.
        prefetch_related_objects([release], "plans", "scope_items")
        blockers.extend(evaluate(release, start, user))
    return blockers


def no_open_release(user, ci: str | None) -> Blocker:
    """Nothing to deploy under. When Change Management approved a template
    as a standard change for this CI, the pipeline's log says so: the
    routine way to an open release (raised from that template by a release
    manager, its plan approved without a CAB vote; every other step stays)."""
    message = "No open release deploys this version of this configuration item."
    standard = (StandardChange.objects.restrict(user).active().filter(cis__name=ci).select_related("template")
                .order_by("approved_at", "pk").first()) if ci else None
    if standard is not None:
        message += (f" {standard.number} approves the template “{standard.template.name}” as a standard change "
                     f"for {ci}: a release manager may raise a release from it, whose plan needs no CAB vote.")
    return Blocker("no_open_release", message)


def _no_go_since_preparation(release: Release):
    """The No-Go that sent the release back to update its plans, if that is
    the latest Go/No-Go decision: until it is prepared and decided again it
    does not deploy."""
    latest = release.latest("go_decisions")
    return latest if latest is not None and latest.decision == GoDecision.NO_GO else None


# --- which release --------------------------------------------------------------------------


def release_pk(value: str) -> int | None:
    """A release's id from ``12`` or its number ``REL-00012``; None if it is neither."""
    value = value.strip()
    match = NUMBER.fullmatch(value)
    return parse_id(match.group(1) if match else value)


def open_release_for(user, ci: str, version: str) -> Release | None:
    """The open release (not closed or cancelled) that brings ``ci`` to
    ``version``, among those ``user`` may read: the newest if several do."""
    return (Release.objects.restrict(user)
            .filter(scope_items__ci__name=ci, scope_items__target_version=version)
            .exclude(state__in=FINISHED).order_by("-pk").first())

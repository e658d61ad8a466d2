"""What every state machine of the project shares: blockers, declarations and errors.

A *blocker* is one reason a transition may not happen now, with a stable code
for integrations and a sentence a release manager understands. The same
blockers feed the API's 409 body, the UI's checklist and the admin buttons.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Mapping

from django.contrib.auth.models import AnonymousUser
from django_fsm import ConcurrentTransition

from . import events, signing
from .authz import load_memberships, redact
from .errors import (  # noqa: F401 - the errors and blockers are read from here too
    REASON_REQUIRED,
    Blocker,
    InvalidState,
    TransitionBlocked,
    TransitionError,
    TransitionForbidden,
    TransitionNotFound,
    refused,
)
from .roles import ROLES  # noqa: F401 - declarations and tests read the roles from here


# A guard looks at an object (and, for segregation of duties, the acting user
# and the transition's payload) and returns the blockers it finds.
Guard = Callable[..., Iterable[Blocker]]


# --- roles -----------------------------------------------------------------


def user_roles(user) -> frozenset[str]:
    """The contract's role names this user holds (cached on the user object).

    Superusers hold every role so an admin can act in Django admin, but the
    segregation-of-duties guards still apply to them like to anyone else.
    """
    if user is None or isinstance(user, AnonymousUser) or not user.is_authenticated or not user.is_active:
        return frozenset()
    cached = getattr(user, "_release_roles", None)
    if cached is None:
        # Read with the user's vendor memberships, in the same query: every
        # read restricts by both (releasemgmt.authz).
        load_memberships(user)
        cached = user._release_roles
    return cached


def has_any_role(user, roles: Iterable[str]) -> bool:
    return bool(user_roles(user) & set(roles))


def user_label(user) -> str:
    if user is None:
        return "system"
    return user.get_full_name() or user.get_username()


# --- guards ------------------------------------------------------------------


@dataclass
class Context:
    """What a guard may know beyond the object: who acts and what they sent."""

    by: Any = None
    payload: dict[str, Any] = field(default_factory=dict)


class guard:  # noqa: N801 - used as a decorator, reads like one
    """A named guard.

    Called with only the object (as django-fsm does for ``conditions=``) it
    answers whether the transition may proceed, so even a direct model call
    from a shell cannot skip a step. ``blockers()`` returns the reasons, for
    the service, the API and the UI. Guards that need the acting user or the
    request's payload (segregation of duties, a reason) declare
    ``context=True``; the service evaluates them, the model cannot.
    """

    def __init__(self, fn=None, *, context: bool = False):
        self.context = context
        self.fn = fn
        if fn is not None:
            self.__name__ = fn.__name__
            self.__doc__ = fn.__doc__

    def __call__(self, *args, **kwargs):
        if self.fn is None:  # @guard(context=True)
            fn = args[0]
            g = guard(fn, context=self.context)
            return g
        return not self.blockers(args[0])

    def blockers(self, obj, ctx: Context | None = None) -> list[Blocker]:
        return list(self.fn(obj, ctx or Context()) or ())

    def __repr__(self):
        return f"<guard {self.__name__}>"


def reason_given(obj, ctx: Context):
    if not str(ctx.payload.get("reason") or "").strip():
        yield Blocker(REASON_REQUIRED, "A reason must be given for this step.")


reason_given = guard(reason_given, context=True)


@dataclass(frozen=True)
class Spec:
    """A transition as declared on the model, with the contract's metadata."""

    name: str
    sources: tuple[str, ...]
    target: str
    step: int | None
    roles: Any  # tuple of role names, or a callable(obj) -> tuple
    guards: tuple[guard, ...]
    internal: bool
    label: str
    reason: bool
    actor: Any = None  # optional callable(obj, user) -> bool, beyond the role
    # A signed decision: callable(obj) -> the content the signer decides on,
    # fingerprinted in the signature (releasemgmt.signing); None when unsigned.
    signed: Any = None
    # What the step does to related objects once the object has moved, in
    # order, inside the transition's transaction: each effect is called as
    # effect(obj, spec, by=, payload=, at=, source=).
    effects: tuple[Callable[..., None], ...] = ()
    # How long the object should stay in the target state once this step
    # leads there, by kind (a release's type): the reminders and the reports
    # measure against it. Empty when the state has no target.
    durations: Mapping[str, Any] = field(default_factory=dict)
    # What the step takes beyond the acting user: the keyword parameters of
    # the transition method (e.g. ``freeze_override_reason``), filled from
    # the payload.
    fields: tuple[str, ...] = ()
    # A step that undoes or abandons progress (a rejection, a No-Go, a
    # rollback, a cancellation): the pages draw it apart from the way forward.
    setback: bool = False
    # What the user should know before taking the step without it standing
    # in the way: callables(obj) -> [Blocker], listed as ``warnings`` beside
    # the blockers and never checked by ``run_transition``.
    warnings: tuple[Callable[..., list], ...] = ()

    def roles_for(self, obj) -> tuple[str, ...]:
        return tuple(self.roles(obj) if callable(self.roles) else self.roles)

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ").capitalize()


_SPECS: dict[type, dict[str, Spec]] = {}


def state_field(model) -> str:
    """The FSM field of a model: ``state``, unless the model names another."""
    return getattr(model, "state_field_name", "state")


def specs(model, field_name: str | None = None) -> dict[str, Spec]:
    """Every transition the model declares, by name (in alphabetical order)."""
    field_name = field_name or state_field(model)
    key = (model, field_name)
    if key not in _SPECS:
        fsm_field = model._meta.get_field(field_name)
        found: dict[str, Spec] = {}
        for t in fsm_field.get_all_transitions(model):
            custom = t.custom or {}
            if t.name in found:
                prev = found[t.name]
                found[t.name] = Spec(**{**prev.__dict__, "sources": prev.sources + (t.source,)})
                continue
            guards = tuple(t.conditions) + tuple(custom.get("checks", ()))
            method = getattr(model, t.name)
            found[t.name] = Spec(
                name=t.name,
                sources=(t.source,),
                target=t.target,
                step=custom.get("step"),
                roles=custom.get("roles", ()),
                guards=guards,
                internal=custom.get("internal", False),
                label=custom.get("label", ""),
                reason=reason_given in guards,
                actor=custom.get("actor"),
                signed=custom.get("signed"),
                effects=tuple(custom.get("effects", ())),
                durations=dict(custom.get("durations", {})),
                fields=tuple(p for p in inspect.signature(method).parameters if p not in ("self", "by")),
                setback=custom.get("setback", False),
                warnings=tuple(custom.get("warnings", ())),
            )
        _SPECS[key] = found
    return _SPECS[key]


def name_of(method) -> str:
    """The name of a declared transition, from the transition itself
    (``name_of(Release.approve_plan)``): code outside the declaration refers
    to a step this way rather than spelling its name, so a renamed or removed
    transition fails at import, not silently at run time."""
    if not hasattr(method, "_django_fsm"):
        raise TypeError(f"{method!r} is not a declared transition")
    return method.__name__


def sources_of(method) -> tuple[str, ...]:
    """The states a declared transition is taken from, read from the
    transition itself (``sources_of(Release.pass_tests)``): what a step's
    records say when they are written while the step can be taken."""
    name_of(method)
    return tuple(str(state) for state in method._django_fsm.transitions)


def evaluate(obj, spec: Spec, by=None, payload: dict | None = None) -> list[Blocker]:
    """The blockers of ``spec`` on ``obj``, worded for ``by``: whoever asks
    (the transition list, the UI, a 409) reads no row they may not see."""
    ctx = Context(by=by, payload=payload or {})
    out: list[Blocker] = []
    for g in spec.guards:
        out.extend(g.blockers(obj, ctx))
    return redact(out, by)


def may_act(obj, spec: Spec, user) -> bool:
    if spec.internal or not has_any_role(user, spec.roles_for(obj)):
        return False
    return spec.actor is None or bool(spec.actor(obj, user))


def check_may_act(obj, spec: Spec, by) -> None:
    """Raise ``TransitionForbidden`` unless ``by`` may perform ``spec`` on
    ``obj`` (its roles, and the actor rule where there is one): the check
    ``run_transition`` makes under its lock, and that an entry point makes
    first (``releasemgmt.refusals.transition_check``)."""
    if may_act(obj, spec, by):
        return
    if spec.internal:
        detail = f"'{spec.name}' is performed by the process itself, not by a user."
    else:
        detail = f"Only {roles_text(spec.roles_for(obj))} may perform “{spec.title}”."
    raise TransitionForbidden(spec.name, detail)


def requirements(obj, spec: Spec, user) -> tuple[list[str], list[Blocker]]:
    """What a POST of ``spec`` on ``obj`` by ``user`` must carry, and what
    still stands in the way once it carries it: the transition list's
    ``requires`` and ``blockers``, both read from the declaration.

    ``reason`` when the step declares the reason guard, ``signature`` when it
    is a signed decision, and each payload field of the step (the keyword
    parameters of its transition method, e.g. ``freeze_override_reason``)
    whose giving clears a blocker now (an emergency release inside a freeze
    window). So ``allowed`` (no blockers) means that a POST with what is
    required succeeds, the signature being the user's own."""
    requires: list[str] = []
    payload: dict[str, str] = {}
    if spec.reason:
        requires.append("reason")
        payload["reason"] = "given"
    if spec.signed is not None:
        requires.append("signature")
    blockers = evaluate(obj, spec, user, payload)
    if blockers and spec.fields:
        # Only the guards that read the payload can change their answer.
        reading = replace(spec, guards=tuple(g for g in spec.guards if getattr(g, "context", False)))
        base = evaluate(obj, reading, user, payload)
        for name in spec.fields:
            trial = evaluate(obj, reading, user, {**payload, name: "given"})
            if len(trial) < len(base):
                requires.append(name)
                payload[name] = "given"
        if len(requires) > bool(spec.reason) + (spec.signed is not None):
            blockers = evaluate(obj, spec, user, payload)
    return requires, blockers


def available(obj, user, field_name: str | None = None, *, with_rows: bool = False) -> list[dict[str, Any]]:
    """Every transition from the object's current state, with ``allowed`` and
    its blockers for this user: the API's transition list, the UI checklist
    and the admin buttons all come from here. ``requires`` names what the
    request must carry (``requirements``); ``allowed`` is true when a request
    carrying it succeeds. With ``with_rows``, each blocker also names the row it is
    about, as (model label, pk), where the user may see it: a page links its
    "fix" to that row (the API's blockers stay code and message)."""
    field_name = field_name or state_field(type(obj))
    state = getattr(obj, field_name)
    rows = []
    for spec in specs(type(obj), field_name).values():
        if state not in spec.sources or spec.internal:
            continue
        blockers = []
        if not may_act(obj, spec, user):
            blockers.append(
                Blocker("role_forbidden", f"Only {roles_text(spec.roles_for(obj))} may perform “{spec.title}”.")
            )
        requires, unmet = requirements(obj, spec, user)
        blockers.extend(unmet)
        rows.append(
            {
                "name": spec.name,
                "label": spec.title,
                "target": spec.target,
                "step": spec.step,
                "allowed": not blockers,
                "requires": requires,
                "reason_required": spec.reason,
                "signature_required": spec.signed is not None,
                "blockers": [{**b.as_dict(), "about": b.about} if with_rows else b.as_dict() for b in blockers],
                "warnings": [w.as_dict() for w in warnings_of(obj, spec, user)],
            }
        )
    return rows


def warnings_of(obj, spec: Spec, user=None) -> list[Blocker]:
    """The warnings of ``spec`` on ``obj``, worded for ``user`` (as blockers
    are: no row they may not see)."""
    return redact([w for warn in spec.warnings for w in warn(obj)], user)


ROLE_LABELS = {
    "release_manager": "a release manager",
    "change_manager": "a change manager",
    "cab_member": "a CAB member",
    "delivery_manager": "a delivery manager",
    "build_team": "the build team",
    "test_team": "the test team",
    "deployment_team": "the deployment team",
    "configuration_manager": "a configuration manager",
    "vendor": "the vendor",
    "stakeholder": "a stakeholder",
}


def roles_text(roles) -> str:
    names = [ROLE_LABELS.get(r, r.replace("_", " ")) for r in roles] or ["the system"]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


# --- the one way to change state ---------------------------------------------


def run_transition(
    model,
    pk,
    name: str,
    *,
    by,
    payload: dict | None = None,
    signature=None,
    system: bool = False,
    field_name: str | None = None,
):
    """Lock, check the role, check every guard, transition, save with history,
    log, run the step's declared effects (``Spec.effects``) and announce it
    (``releasemgmt.events``: notifications write their outbox rows, reports
    their stays): all in the caller's transaction (services wrap this in
    ``transaction.atomic``).

    ``system=True`` is for transitions one machine performs on behalf of
    another (a release driving its RFCs): the role check is the caller's.

    A signed transition (``Spec.signed``) also needs ``signature``, the
    credential of ``by`` (``releasemgmt.signing``), checked once the role,
    the state and the guards allow the step; the signature is kept beside
    the log row. No credential, or one that does not prove ``by``: refused,
    nothing changed.
    """
    from django.apps import apps
    from django.utils import timezone


    payload = dict(payload or {})
    field_name = field_name or state_field(model)
    obj = model.objects.select_for_update().get(pk=pk)
    spec = specs(model, field_name).get(name)
    if spec is None:
        raise TransitionNotFound(name, f"There is no transition named '{name}'.")
    if not system:
        check_may_act(obj, spec, by)
    state = getattr(obj, field_name)
    if state not in spec.sources:
        raise InvalidState(
            name,
            f"'{name}' is not possible from state '{state}'.",
            [Blocker("invalid_state", f"'{name}' is not possible while the {model._meta.verbose_name} is '{state}'.")],
        )
    blockers = evaluate(obj, spec, by, payload)
    if blockers:
        raise refused(name, blockers)
    if spec.signed is not None:
        signed_with = signing.verify(by, signature, decision=name)
        # What the signer decides on, as it stands before the step is taken.
        signed_content = signature.document(spec.signed(obj))
    getattr(obj, name)(by=by, **{k: v for k, v in payload.items() if k in spec.fields})
    obj._change_reason = name
    obj._history_user = by
    try:
        obj.save()
    except ConcurrentTransition as exc:
        # The row lock makes this unreachable on PostgreSQL; on a database
        # without row locks the optimistic check still lets only one win.
        raise TransitionBlocked(name, "Someone else changed this record at the same time; reload and retry.",
                                [Blocker("concurrent_transition", "The record was changed concurrently.")],
                                code="concurrent_transition") from exc
    now = timezone.now()
    log = apps.get_model("releases", "TransitionLog").record(
        obj, name=name, source=state, target=getattr(obj, field_name), by=by, at=now,
        reason=str(payload.get("reason") or ""), payload=payload,
    )
    if spec.signed is not None:
        signing.record(by=by, method=signed_with, meaning=name, content=signed_content, decision=log, at=now)
    for effect in spec.effects:
        effect(obj, spec, by=by, payload=payload, at=now, source=state)
    events.announce(obj, name, by=by, payload=payload, log=log, source=state, target=getattr(obj, field_name),
                    at=now)
    return obj

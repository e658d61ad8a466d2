"""The work queues: releases whose next step one of a user's roles takes."""

from __future__ import annotations

from django.db.models import Q

from releasemgmt.workflow import name_of, specs, user_roles

from ..choices import ReleaseState, ReleaseType
from ..models import Release
from .access import ENDED

# The dashboard shows the first few of a person's work queue and links to the
# rest (the queue page): a change manager's queue can hold hundreds of items.
DASHBOARD_QUEUE = 20


class _OnlyItsType:
    """A release reduced to its type, handed to a callable ``roles`` of a
    Release transition to learn who may perform it on releases of that type.

    The work queues below filter in SQL by (state, release_type), which is
    right only while who may act depends on nothing else. It does: the one
    callable ``roles`` of the Release transitions is ``guards.go_roles``,
    which reads ``release_type`` alone. One that read anything else (a record,
    the manager) would fail here with an AttributeError, in the tests, rather
    than queue releases by a guess: its condition would have to join the
    queries below. (A transition's ``actor``, a check of the user beyond the
    role, is not consulted, as before: no Release transition has one.)"""

    __slots__ = ("release_type",)

    def __init__(self, release_type):
        self.release_type = release_type


def _acting(roles, names=None, skip=frozenset()) -> dict[tuple[str, str], list[str]]:
    """(state, release_type) → the titles of the Release transitions from that
    state that one of ``roles`` may perform on a release of that type (only
    those named ``names``, if given, and none named in ``skip``)."""
    out: dict[tuple[str, str], list[str]] = {}
    if not roles:
        return out
    for spec in specs(Release).values():
        if spec.internal or spec.name in skip or (names is not None and spec.name not in names):
            continue
        for release_type in ReleaseType.values:
            if roles & set(spec.roles_for(_OnlyItsType(release_type))):
                for state in spec.sources:
                    out.setdefault((state, release_type), []).append(spec.title)
    return out


def _types_by_state(pairs) -> dict[str, set]:
    types: dict[str, set] = {}
    for state, release_type in pairs:
        types.setdefault(state, set()).add(release_type)
    return types


def _in_pairs(pairs) -> Q | None:
    """Releases whose (state, release_type) is one of ``pairs``: by state
    alone where every type is in, else by state and types. None if no pair."""
    types = _types_by_state(pairs)
    every = sorted(s for s, ts in types.items() if ts == set(ReleaseType.values))
    parts = [Q(state__in=every)] if every else []
    parts += [Q(state=s, release_type__in=sorted(ts)) for s, ts in sorted(types.items()) if s not in every]
    if not parts:
        return None
    q = parts[0]
    for part in parts[1:]:
        q |= part
    return q


QUEUE_FIELDS = ("id", "title", "state", "release_type", "planned_start", "planned_end")


def go_queue(user):
    """Releases ready for a Go/No-Go this user may take (not their own), as a
    query, soonest first, and (state, release_type) → the decisions' titles."""
    steps = _acting(user_roles(user), names={name_of(Release.approve_go), name_of(Release.no_go)})
    where = _in_pairs(steps)
    if where is None:
        return Release.objects.none(), steps
    # guards.not_release_manager: the manager of a release never decides its
    # Go, nor does whoever proposed one of its RFCs.
    proposed = Release.rfcs.through.objects.filter(
        Q(changerequest__requester=user) | Q(changerequest__raised_by=user),
        release__state=ReleaseState.READY).values("release_id")
    return (Release.objects.restrict(user).filter(where).exclude(release_manager=user).exclude(pk__in=proposed)
            .only(*QUEUE_FIELDS).order_by("planned_start", "pk"), steps)


QUEUED_ELSEWHERE = {name_of(Release.approve_plan), name_of(Release.reject_plan), name_of(Release.approve_go),
                    name_of(Release.no_go), name_of(Release.cancel)}


def role_queue(user):
    """Active releases whose next step is taken by one of this user's roles
    (other than release manager: those are on "my releases", and other than
    the CAB vote and Go/No-Go, which have their own lists), as a query,
    soonest first, and (state, release_type) → the titles of those steps."""
    steps = _acting(user_roles(user) - {"release_manager"}, skip=QUEUED_ELSEWHERE)
    where = _in_pairs(steps)
    if where is None:
        return Release.objects.none(), steps
    return (Release.objects.restrict(user).filter(where).exclude(state__in=ENDED).only(*QUEUE_FIELDS)
            .order_by("planned_start", "pk"), steps)

"""Who may read what: the one policy every ``restrict`` asks.

Each model's queryset has a ``restrict(user, action="view")`` (NetBox's
pattern) that narrows it to the rows ``user`` may read; the API, the browser
UI, the admin (history included), the calendar feeds, the calendar attached
to emails, the reports and the audit export all read through it. The
querysets live beside their models (``releases.querysets``,
``changes.querysets``, ``cmdb.querysets``); what they ask of a user is
decided here, once:

* No role in the process (and not a superuser): nothing.
* A superuser: everything.
* A role other than ``vendor``, and no vendor membership: everything (an
  *internal reader*).
* Vendor visibility follows vendor membership (``Vendor.users``) and the
  ``vendor`` role whatever other roles the user holds: such a user never sees
  another vendor's tasks (nor their history, log, messages or calendar
  entries). Holding only the ``vendor`` role, they see the releases carrying
  their vendor's tasks, those tasks, and those releases' RFCs, CIs,
  baselines and records; holding a reader role too (a stakeholder, say),
  they read releases, RFCs and the CMDB as that role, and every task but
  other vendors'.

Nothing here imports an app's models at import time: the apps depend on this
module, not the other way round.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Iterable

from django.db import models

from .roles import ROLES

VENDOR = "vendor"

#: The actions a restrict answers. Who may *change* something is decided by
#: the services (``releasemgmt.workflow``), not by narrowing a queryset.
ACTIONS = ("view",)


@dataclass(frozen=True)
class Reader:
    """What the policy makes of one user: their process roles, whether they
    are a superuser, and the vendors they belong to."""

    roles: frozenset = frozenset()
    superuser: bool = False
    vendor_ids: frozenset = frozenset()
    user_id: int | None = None

    @property
    def anything(self) -> bool:
        """Sees anything at all: a superuser, or a holder of some role."""
        return self.superuser or bool(self.roles)

    @property
    def internal(self) -> bool:
        """Reads releases, RFCs, problems, the CMDB, templates and freezes
        whole: a superuser or a holder of a role other than ``vendor``."""
        return self.superuser or bool(self.roles - {VENDOR})

    @property
    def vendor_bound(self) -> bool:
        """Sees no other vendor's tasks: holds the vendor role or belongs to
        a vendor (a superuser is never bound)."""
        return not self.superuser and (VENDOR in self.roles or bool(self.vendor_ids))

    @property
    def everything(self) -> bool:
        """Sees every row of every model."""
        return self.superuser or (self.internal and not self.vendor_bound)

    @property
    def key(self) -> tuple:
        """What this user sees, as a value two users share exactly when they
        see the same rows (for caches of rendered feeds and attachments)."""
        if self.everything:
            return ("all",)
        if not self.anything:
            return ("none",)
        return ("internal" if self.internal else "vendor", *sorted(self.vendor_ids))


NOBODY = Reader()


def _active(user) -> bool:
    return (user is not None and getattr(user, "is_authenticated", False) and getattr(user, "is_active", False)
            and getattr(user, "pk", None) is not None)


def load_memberships(user) -> None:
    """Read a user's process roles and vendor memberships in one query and
    keep them on the user object (``_release_roles``, ``_vendor_ids``; a
    superuser's roles without a query, and no vendors), where
    ``workflow.user_roles`` and ``reader`` find them for the rest of the
    request. Group names are never digits and vendor ids always are, so one
    column of text carries both."""
    from django.db.models import CharField
    from django.db.models.functions import Cast

    if not _active(user):
        user._release_roles, user._vendor_ids = frozenset(), frozenset()
        return
    if user.is_superuser:
        # Every role (workflow.user_roles), and every row whatever their
        # vendors: nothing to read.
        user._release_roles = frozenset(ROLES)
        return
    vendors = user.vendors.through.objects.filter(user_id=user.pk).values_list(
        Cast("vendor_id", output_field=CharField()), flat=True)
    rows = list(user.groups.filter(name__in=ROLES).values_list("name", flat=True).union(vendors, all=True))
    user._release_roles = frozenset(r for r in rows if not r.isdigit())
    user._vendor_ids = frozenset(int(r) for r in rows if r.isdigit())


def prime(users: Iterable) -> None:
    """Fill the caches ``load_memberships`` fills from prefetched ``groups``
    and ``vendors`` (``prefetch_related("groups", "vendors")``), so that
    asking about many users (an email's recipients) costs no query each."""
    for user in users:
        if not _active(user):
            user._release_roles, user._vendor_ids = frozenset(), frozenset()
            continue
        user._release_roles = (frozenset(ROLES) if user.is_superuser
                               else frozenset(g.name for g in user.groups.all() if g.name in ROLES))
        user._vendor_ids = frozenset(v.pk for v in user.vendors.all())


def reader(user) -> Reader:
    """The policy's view of ``user`` (anonymous, inactive or None: nobody)."""
    if not _active(user):
        return NOBODY
    if user.is_superuser:
        return Reader(roles=frozenset(ROLES), superuser=True, user_id=user.pk)
    if getattr(user, "_release_roles", None) is None:
        load_memberships(user)
    elif getattr(user, "_vendor_ids", None) is None:
        user._vendor_ids = frozenset(user.vendors.values_list("pk", flat=True))
    return Reader(roles=user._release_roles, superuser=user.is_superuser, vendor_ids=user._vendor_ids,
                  user_id=user.pk)


def check_action(action: str) -> None:
    if action not in ACTIONS:
        raise ValueError(f"restrict() answers {', '.join(ACTIONS)}; who may {action} is the services' decision.")


def unfiltered(queryset) -> bool:
    """Whether a restrict of an unfiltered queryset (``Model.objects.restrict(user)``)
    left it as it was, i.e. the user sees every row: its WHERE clause is
    still empty (``none()``'s is not)."""
    return not queryset.query.where


def keep_visible(objects: list, restricted) -> list:
    """The members of an already-fetched list that the restricted queryset
    ``restricted`` admits: all of them, with no query, when the restrict
    narrowed nothing; otherwise one query for their ids. For lists read
    whole for another purpose (a release's tasks, which its guards count)
    and shown to a user."""
    if unfiltered(restricted) or not objects:
        return list(objects)
    ids = set(restricted.filter(pk__in=[o.pk for o in objects]).values_list("pk", flat=True))
    return [o for o in objects if o.pk in ids]


class RestrictedQuerySet(models.QuerySet):
    """A queryset that narrows itself to what a user may read. This default
    shows every row to whoever reads everything and nothing to anyone else;
    models that others may read override ``restrict``."""

    def restrict(self, user, action: str = "view"):
        check_action(action)
        return self if reader(user).everything else self.none()


class ViaQuerySet(RestrictedQuerySet):
    """Rows that belong to a parent (a step record to its release, a
    baseline's item to its baseline): visible where the parent is. Name the
    foreign key in ``restrict_via``."""

    restrict_via = ""

    def restrict(self, user, action: str = "view"):
        check_action(action)
        field = self.model._meta.get_field(self.restrict_via)
        parents = field.related_model._default_manager.restrict(user, action)
        if unfiltered(parents):
            return self
        if parents.query.is_empty():
            return self.none()
        return self.filter(**{f"{field.name}__in": parents.values("pk")})


@functools.cache
def _restricted_models() -> tuple:
    """The models a log or message may be about: those with a restrict of
    their own (not the logs and messages themselves)."""
    from django.apps import apps

    return tuple(m for m in apps.get_models()
                 if isinstance(m._default_manager.all(), RestrictedQuerySet)
                 and not isinstance(m._default_manager.all(), SubjectRestrictedQuerySet))


class SubjectRestrictedQuerySet(RestrictedQuerySet):
    """Rows about another object named by ``content_type`` and ``object_id``
    (transition logs, outbox messages, refused attempts): visible where
    their subject is."""

    def subject_models(self) -> tuple:
        """The models a row may be about."""
        return _restricted_models()

    def restrict(self, user, action: str = "view"):
        from django.contrib.contenttypes.models import ContentType
        from django.db.models import Q

        check_action(action)
        who = reader(user)
        if who.everything:
            return self
        if not who.anything:
            return self.none()
        where = Q(pk__in=[])
        types = ContentType.objects.get_for_models(*self.subject_models())  # one query at most
        for model, ct in types.items():
            subjects = model._default_manager.restrict(user, action)
            if unfiltered(subjects):
                where |= Q(content_type_id=ct.pk)
            elif not subjects.query.is_empty():
                where |= Q(content_type_id=ct.pk, object_id__in=subjects.values("pk"))
        return self.filter(where)


#: Who manages the event subscriptions of outside tools (webhooks): a
#: subscription sends the process's events to a URL of its maker's choosing,
#: so it is for the release managers (and the administrators) alone.
INTEGRATION_ROLES = frozenset({"release_manager"})


def manages_integrations(user) -> bool:
    """Whether ``user`` may see and manage event subscriptions and their deliveries."""
    who = reader(user)
    return who.superuser or bool(who.roles & INTEGRATION_ROLES)


def restrict_users(queryset, user, action: str = "view"):
    """The user directory: who ``user`` may look up. The process's roles
    see everyone; a user holding only the vendor role sees themself (the
    vendor's people are outsiders to the staff directory); no role, nobody."""
    check_action(action)
    who = reader(user)
    if who.internal:
        return queryset
    if who.anything:
        return queryset.filter(pk=who.user_id)
    return queryset.none()


def redact(blockers: list, user) -> list:
    """``blockers`` as ``user`` may read them: one that names a row the user
    may not see (another vendor's task, a release they cannot read) says so
    in its ``unseen`` words instead, under the same code. No query unless a
    blocker names a row and the user does not see everything; without a
    user (the process itself) they stay as written."""
    named = [b for b in blockers if b.about]
    if not named or user is None or reader(user).everything:
        return blockers
    from collections import defaultdict

    from django.apps import apps

    wanted = defaultdict(set)
    for b in named:
        wanted[b.about[0]].add(b.about[1])
    seen = set()
    for label, ids in wanted.items():
        rows = apps.get_model(label)._default_manager.restrict(user).filter(pk__in=ids)
        seen |= {(label, pk) for pk in rows.values_list("pk", flat=True)}
    return [b if not b.about or b.about in seen
            else type(b)(b.code, b.unseen or "Something you may not see stands in the way.") for b in blockers]

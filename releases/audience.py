"""Who a communication reaches: its chosen audience resolved to addresses.

A communication (step 9's stakeholder notice, step 12's downtime broadcast,
...) names its audience by kind: process roles, teams, vendors, the
requesters of the release's RFCs, and the stakeholders of the CIs in scope
(their owners, and the owners of the CIs that depend on them: the CMDB's
``ConfigurationItem.owner``). This module turns that choice into one
address per recipient; ``services.record_add`` refuses a communication that
reaches nobody, and the notifications app writes one outbox message per
address.

Vendors are outsiders (``releasemgmt.authz``): a user bound to a vendor is
reached through that vendor being chosen, never through a role, a team, an
RFC or a CI, so choosing one vendor never tells another vendor's people;
the ``vendor`` role is not offered as an audience for the same reason.
"""
from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db.models import Q

from cmdb.models import ConfigurationItem
from releasemgmt import events
from releasemgmt.authz import VENDOR

from .models.records import AUDIENCE_ROLES



def requesters_q(release) -> Q:
    """Users who requested an RFC of ``release``."""
    return Q(rfcs__releases=release)


def ci_owner_ids(release) -> list[int]:
    """The CIs whose owners are the release's CI stakeholders: those in scope
    and those depending on them (a change to a CI can affect its dependants)."""
    in_scope = list(release.scope_items.values_list("ci_id", flat=True))
    return list(ConfigurationItem.objects.filter(Q(pk__in=in_scope) | Q(depends_on__in=in_scope))
                .values_list("pk", flat=True).distinct())


def ci_stakeholders_q(release) -> Q:
    return Q(owned_cis__in=ci_owner_ids(release))


@dataclass(frozen=True)
class Audience:
    """A communication's chosen audience."""

    roles: tuple = ()
    teams: tuple = ()
    vendors: tuple = ()
    rfc_requesters: bool = False
    ci_stakeholders: bool = False

    @classmethod
    def of(cls, data: dict) -> "Audience":
        """Read from a record's fields: the many-to-many ones are taken out of
        ``data`` (set once the record is saved), the flags stay (columns)."""
        return cls(roles=_groups(data.pop("roles", None) or ()), teams=tuple(data.pop("teams", None) or ()),
                   vendors=tuple(data.pop("vendors", None) or ()),
                   rfc_requesters=bool(data.get("rfc_requesters", False)),
                   ci_stakeholders=bool(data.get("ci_stakeholders", False)))

    @property
    def chosen(self) -> bool:
        return bool(self.roles or self.teams or self.vendors or self.rfc_requesters or self.ci_stakeholders)

    def in_words(self) -> str:
        parts = []
        for label, items in (("Roles", self.roles), ("Teams", self.teams), ("Vendors", self.vendors)):
            if items:
                names = sorted(_label(i) for i in items)
                if label == "Roles":
                    names = [n.replace("_", " ").capitalize() for n in names]
                parts.append(f"{label}: " + ", ".join(names))
        if self.rfc_requesters:
            parts.append("RFC requesters")
        if self.ci_stakeholders:
            parts.append("CI stakeholders")
        text = " · ".join(parts)
        return text if len(text) <= 300 else text[:299] + "…"

    def users_q(self, release) -> Q:
        """The internal users this audience names (vendors' people aside)."""
        q = Q(pk__in=[])
        if self.roles:
            q |= Q(groups__name__in=[_label(r) for r in self.roles])
        if self.teams:
            q |= Q(teams__in=[t.pk for t in self.teams])
        if self.rfc_requesters:
            q |= requesters_q(release)
        if self.ci_stakeholders:
            q |= ci_stakeholders_q(release)
        return q

    def recipients(self, release) -> dict[str, object]:
        """Each address the audience reaches, with its user (None for a team's
        or a vendor's own address), in address order."""
        User = get_user_model()
        found: dict[str, tuple[str, object]] = {}  # one message per address, however it is spelled

        def add(address, user):
            found.setdefault(address.lower(), (address, user))

        internal = (User.objects.filter(self.users_q(release), is_active=True).exclude(email="")
                    .exclude(vendor_bound_q()).distinct())
        for user in internal:
            add(user.email, user)
        vendor_ids = [v.pk for v in self.vendors]
        if vendor_ids:
            for user in User.objects.filter(vendors__in=vendor_ids, is_active=True).exclude(email="").distinct():
                add(user.email, user)
        for group in (*self.teams, *self.vendors):
            if group.email:
                add(group.email, None)
        return dict(found[key] for key in sorted(found))

    def recipients_or_refuse(self, release) -> dict[str, object]:
        """``recipients``, refused (naming the field) when the audience holds
        a role it may not or reaches nobody with an address."""
        refused = sorted(r.name for r in self.roles if r.name not in AUDIENCE_ROLES)
        if refused:
            raise ValidationError({"roles": f"A communication is not addressed to the role {', '.join(refused)}: "
                                            f"choose the vendors instead."})
        if not self.chosen:
            raise ValidationError({"audience": "Choose who is told: a role, a team, a vendor, the RFC requesters "
                                               "or the CI stakeholders."})
        to = self.recipients(release)
        if not to:
            raise ValidationError({"audience": f"Nobody with an email address is in this audience "
                                               f"({self.in_words()}): choose another."})
        return to

    def announce(self, record, to, by) -> None:
        """Keep the chosen audience on the saved record and announce it: the
        notifications app writes one outbox message per recipient, in this
        transaction (the relay delivers them after the commit)."""
        record.roles.set(self.roles)
        record.teams.set(self.teams)
        record.vendors.set(self.vendors)
        events.announce(record, "communication", by=by, recipients=to)


def _groups(roles) -> tuple:
    """Roles as groups: given as groups, or by name."""
    names = [r for r in roles if isinstance(r, str)]
    found = {g.name: g for g in Group.objects.filter(name__in=names)} if names else {}
    missing = sorted(set(names) - set(found))
    if missing:
        raise ValidationError({"roles": f"No such role: {', '.join(missing)}."})
    return tuple(found[r] if isinstance(r, str) else r for r in roles)


def vendor_bound_q() -> Q:
    """Users bound to a vendor (its role or its membership): reached only
    through their vendor."""
    return Q(groups__name=VENDOR) | Q(vendors__isnull=False)


def _label(item) -> str:
    return getattr(item, "name", None) or str(item)

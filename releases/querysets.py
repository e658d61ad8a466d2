"""Read-side helpers: questions about releases that guards and views ask."""
from __future__ import annotations

from django.db.models import Q

from releasemgmt.authz import RestrictedQuerySet, SubjectRestrictedQuerySet, ViaQuerySet, check_action, reader


def dependency_cycle(release) -> list[str]:
    """A cycle among the scope's components (by ``depends_on``), or [].

    Packaging assembles components in dependency order, which exists only if
    the dependencies among the components in scope form no cycle.
    """
    from cmdb.models import ConfigurationItem

    ids = [item.ci_id for item in release.scope_items.all()]
    edges: dict[int, list[int]] = {i: [] for i in ids}
    through = ConfigurationItem.depends_on.through
    for src, dst in through.objects.filter(from_configurationitem_id__in=ids, to_configurationitem_id__in=ids) \
            .values_list("from_configurationitem_id", "to_configurationitem_id"):
        edges[src].append(dst)
    names = dict(ConfigurationItem.objects.filter(pk__in=ids).values_list("pk", "name"))
    WHITE, GREY, BLACK = 0, 1, 2
    colour = dict.fromkeys(ids, WHITE)
    stack: list[int] = []

    def visit(node) -> list[int] | None:
        colour[node] = GREY
        stack.append(node)
        for nxt in edges[node]:
            if colour[nxt] == GREY:
                return stack[stack.index(nxt):] + [nxt]
            if colour[nxt] == WHITE and (found := visit(nxt)):
                return found
        stack.pop()
        colour[node] = BLACK
        return None

    for start in ids:
        if colour[start] == WHITE and (cycle := visit(start)):
            return [names[i] for i in cycle]
    return []


ACTIVE_FOR_CONFLICTS = ("plan_approved", "scheduled", "packaging", "building", "built", "testing", "tests_passed",
                        "plans_updated", "ready", "go", "backed_up", "deploying", "deployed", "rolling_back")


def affected_ci_ids(release, *, dependencies: bool = False) -> set[int]:
    """The CIs in scope and the CIs that depend on them: what a deployment
    touches. With ``dependencies``, also the CIs the scope depends on, so that
    two releases on either end of a dependency see each other."""
    from cmdb.models import ConfigurationItem

    scope = {item.ci_id for item in release.scope_items.all()}
    through = ConfigurationItem.depends_on.through
    related = set(through.objects.filter(to_configurationitem_id__in=scope)
                  .values_list("from_configurationitem_id", flat=True))
    if dependencies:
        related |= set(through.objects.filter(from_configurationitem_id__in=scope)
                       .values_list("to_configurationitem_id", flat=True))
    return scope | related


def window_conflicts(release, start, end):
    """Freeze windows and other releases colliding with [start, end].

    Returns ``(freezes, releases)``: each a list of ``(object, [CI names])``;
    a global freeze lists no CI names.
    """
    from cmdb.models import ConfigurationItem

    from .models import FreezeWindow, Release, ReleaseScopeItem

    affected = affected_ci_ids(release)
    related = affected_ci_ids(release, dependencies=True)
    names = dict(ConfigurationItem.objects.filter(pk__in=related).values_list("pk", "name"))
    freezes = []
    for freeze in FreezeWindow.objects.filter(start__lt=end, end__gt=start).prefetch_related("cis"):
        cis = [c.pk for c in freeze.cis.all()]
        if not cis:
            freezes.append((freeze, []))
        elif hit := sorted(names[c] for c in set(cis) & affected):
            freezes.append((freeze, hit))
    others = []
    candidates = (Release.objects.exclude(pk=release.pk).filter(state__in=ACTIVE_FOR_CONFLICTS)
                  .filter(scope_items__ci__in=related).distinct().prefetch_related("plans"))
    for other in candidates:
        plan = other.current_plan
        o_start, o_end = ((plan.deployment_start, plan.deployment_end) if plan and plan.deployment_start
                          else (other.planned_start, other.planned_end))
        if o_start and o_end and o_start < end and start < o_end:
            shared = ReleaseScopeItem.objects.filter(release=other, ci__in=related).values_list("ci__name", flat=True)
            others.append((other, sorted(shared)))
    return freezes, others


# --- who reads what (releasemgmt.authz decides; these say it per model) ------------------------


class ReleaseQuerySet(RestrictedQuerySet):
    def restrict(self, user, action: str = "view"):
        """The process's roles read every release; a vendor-only user the
        releases carrying its vendor's tasks; nobody else any."""
        from .models import Task

        check_action(action)
        who = reader(user)
        if who.internal:
            return self
        if not who.vendor_ids:
            return self.none()
        return self.filter(pk__in=Task.objects.filter(assignee_vendor_id__in=sorted(who.vendor_ids))
                           .values("release_id"))


class TaskQuerySet(RestrictedQuerySet):
    def restrict(self, user, action: str = "view"):
        """Every task for whoever reads everything. A vendor's user (by
        membership or role) never sees another vendor's tasks: with a
        reader role they see the rest, with the vendor role alone only
        their vendor's."""
        check_action(action)
        who = reader(user)
        if who.everything:
            return self
        if not who.anything:
            return self.none()
        own = Q(assignee_vendor_id__in=sorted(who.vendor_ids))
        if who.internal:
            return self.filter(Q(assignee_vendor__isnull=True) | own)
        return self.filter(own) if who.vendor_ids else self.none()


class ReleaseRecordQuerySet(ViaQuerySet):
    """Step records and scope items: visible with their release."""

    restrict_via = "release"


class InternalQuerySet(RestrictedQuerySet):
    def restrict(self, user, action: str = "view"):
        """How the process is run (templates, freeze windows, teams): read
        by its roles, not by a user holding only the vendor role."""
        check_action(action)
        return self if reader(user).internal else self.none()


class TemplatePartQuerySet(ViaQuerySet):
    restrict_via = "template"


class VendorQuerySet(RestrictedQuerySet):
    def restrict(self, user, action: str = "view"):
        """Every vendor for whoever reads everything; a vendor's user sees
        only its own vendors."""
        check_action(action)
        who = reader(user)
        if who.everything:
            return self
        return self.filter(pk__in=sorted(who.vendor_ids)) if who.vendor_ids else self.none()


class InboundDeliveryQuerySet(RestrictedQuerySet):
    def restrict(self, user, action: str = "view"):
        """Updates received from a vendor's system: its own users see them."""
        check_action(action)
        who = reader(user)
        if who.everything:
            return self
        return self.filter(vendor_id__in=sorted(who.vendor_ids)) if who.vendor_ids else self.none()


class CalendarTokenQuerySet(RestrictedQuerySet):
    def restrict(self, user, action: str = "view"):
        """A user's own subscription token (and every one, to whoever reads everything)."""
        check_action(action)
        who = reader(user)
        if who.everything:
            return self
        return self.filter(user_id=who.user_id) if who.anything else self.none()


class SignatureQuerySet(SubjectRestrictedQuerySet):
    """Signatures belong to the row that records the decision (a transition
    log row or a CAB vote): visible where that row is. (A row about another
    row, like a log: no log or message is ever about a signature.)"""

    def subject_models(self) -> tuple:
        from django.apps import apps

        return apps.get_model("releases", "TransitionLog"), apps.get_model("releases", "CabVote")

"""Who reads what, per model of the release process: each model's
``restrict(user, action)`` (``releasemgmt.authz`` decides, these say it)."""
from __future__ import annotations

from django.db.models import Q

from releasemgmt.authz import RestrictedQuerySet, SubjectRestrictedQuerySet, ViaQuerySet, check_action, reader


# --- who reads what (releasemgmt.authz decides; these say it per model) ------------------------


class ReleaseQuerySet(RestrictedQuerySet):
    def restrict(self, user, action: str = "view"):
        """The process's roles read every release; a vendor-only user the
        releases carrying its vendor's tasks; nobody else any."""
        check_action(action)
        who = reader(user)
        if who.internal:
            return self
        if not who.vendor_ids:
            return self.none()
        tasks = self.model._meta.get_field("tasks").related_model
        return self.filter(pk__in=tasks.objects.filter(assignee_vendor_id__in=sorted(who.vendor_ids))
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


class StandardChangeQuerySet(InternalQuerySet):
    def active(self):
        return self.filter(withdrawn_at__isnull=True)

    def covering(self, release):
        """The standing approval that approves ``release``'s plan, or None:
        active, for the template the release was raised from as it was
        approved (not edited since), for every CI in the release's scope (at
        least one), signed by someone free to approve this release
        (segregation of duties, as for a CAB vote) who still holds the change
        manager role. The oldest such, when several do."""
        from django.db.models import F

        from releasemgmt.workflow import has_any_role

        if release.template_id is None:
            return None
        scope = {item.ci_id for item in release.scope_items.all()}
        if not scope:
            return None
        found = (self.active().filter(template_id=release.template_id,
                                      template_updated_at=F("template__updated_at"),
                                      approved_by__is_active=True)
                 .exclude(approved_by_id__in=release.conflicted_user_ids())
                 .select_related("approved_by", "template").prefetch_related("cis").order_by("approved_at", "pk"))
        for standard in found:
            if scope <= {ci.pk for ci in standard.cis.all()} and has_any_role(standard.approved_by,
                                                                                ("change_manager",)):
                return standard
        return None


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

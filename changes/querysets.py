"""Who reads which RFCs and problem records (the policy is ``releasemgmt.authz``)."""
from __future__ import annotations

from releasemgmt.authz import RestrictedQuerySet, check_action, reader, unfiltered


class ChangeRequestQuerySet(RestrictedQuerySet):
    def restrict(self, user, action: str = "view"):
        """The process's roles read every RFC; a vendor-only user the RFCs
        of the releases it sees; nobody else any."""
        check_action(action)
        who = reader(user)
        if who.internal:
            return self
        # Through the link the release process declares (``Release.rfcs``,
        # ``releases`` here): change management does not import ``releases``.
        link = self.model._meta.get_field("releases")
        releases = link.related_model._default_manager.restrict(user, action)
        if releases.query.is_empty():
            return self.none()
        if unfiltered(releases):
            return self
        return self.filter(pk__in=link.through.objects.filter(release_id__in=releases.values("pk"))
                           .values("changerequest_id"))


class ProblemQuerySet(RestrictedQuerySet):
    def restrict(self, user, action: str = "view"):
        """Problem records (root cause analysis of a failed release) are
        read by the process's roles, not by a user holding only the vendor
        role."""
        check_action(action)
        return self if reader(user).internal else self.none()

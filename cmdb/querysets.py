"""Who reads which configuration items and baselines (the policy is ``releasemgmt.authz``)."""
from __future__ import annotations

from releasemgmt.authz import RestrictedQuerySet, ViaQuerySet, check_action, reader


class ConfigurationItemQuerySet(RestrictedQuerySet):
    def restrict(self, user, action: str = "view"):
        """The process's roles read the whole CMDB; a vendor-only user the
        CIs in scope of the releases it sees; nobody else any."""
        from releases.models import Release, ReleaseScopeItem

        check_action(action)
        who = reader(user)
        if who.internal:
            return self
        if not who.anything:
            return self.none()
        releases = Release.objects.restrict(user, action)
        return self.filter(pk__in=ReleaseScopeItem.objects.filter(release_id__in=releases.values("pk"))
                           .values("ci_id"))


class BaselineQuerySet(RestrictedQuerySet):
    def restrict(self, user, action: str = "view"):
        """The process's roles read every baseline; a vendor-only user the
        baselines of the releases it sees; nobody else any."""
        from releases.models import Release

        check_action(action)
        who = reader(user)
        if who.internal:
            return self
        if not who.anything:
            return self.none()
        return self.filter(release_id__in=Release.objects.restrict(user, action).values("pk"))


class BaselineItemQuerySet(ViaQuerySet):
    restrict_via = "baseline"

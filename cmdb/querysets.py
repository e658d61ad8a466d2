"""Who reads which configuration items and baselines (the policy is ``releasemgmt.authz``)."""
from __future__ import annotations

from releasemgmt.authz import RestrictedQuerySet, ViaQuerySet, check_action, reader


class ConfigurationItemQuerySet(RestrictedQuerySet):
    def restrict(self, user, action: str = "view"):
        """The process's roles read the whole CMDB; a vendor-only user the
        CIs in scope of the releases it sees; nobody else any."""
        check_action(action)
        who = reader(user)
        if who.internal:
            return self
        if not who.anything:
            return self.none()
        # Through the scope items the release process declares on a CI
        # (``release_scope``): the CMDB does not import ``releases``.
        scope = self.model._meta.get_field("release_scope").related_model
        releases = scope._meta.get_field("release").related_model._default_manager.restrict(user, action)
        return self.filter(pk__in=scope._default_manager.filter(release_id__in=releases.values("pk"))
                           .values("ci_id"))


class BaselineQuerySet(RestrictedQuerySet):
    def restrict(self, user, action: str = "view"):
        """The process's roles read every baseline; a vendor-only user the
        baselines of the releases it sees; nobody else any."""
        check_action(action)
        who = reader(user)
        if who.internal:
            return self
        if not who.anything:
            return self.none()
        releases = self.model._meta.get_field("release").related_model._default_manager.restrict(user, action)
        return self.filter(release_id__in=releases.values("pk"))


class BaselineItemQuerySet(ViaQuerySet):
    restrict_via = "baseline"

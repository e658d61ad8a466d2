"""Who may use the REST API at all (a default permission, in settings).

Every viewset reads through its model's ``restrict`` (releasemgmt.authz).
Someone holding no role sees nothing; rather than an empty list for them,
the API answers 403 as the browser UI does. Writes go on to the services,
which refuse them and keep the refusal.
"""
from rest_framework.permissions import SAFE_METHODS, BasePermission


class ProcessReader(BasePermission):
    """Reads need a role in the release process (or a superuser): whoever
    holds none is refused with 403, as in the browser UI."""

    message = "You have no role in the release process, so there is nothing here for you to read."

    def has_permission(self, request, view):
        from .authz import reader

        return request.method not in SAFE_METHODS or reader(request.user).anything

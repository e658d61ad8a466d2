"""Who a sign-in at the identity provider is here: the user linked to its
subject (created at the first sign-in, with no usable password), with the
roles its groups give, brought up to date at every sign-in."""
from __future__ import annotations

import hashlib
import logging
import re

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone

from .config import OidcConfig, roles_from_claims
from .models import Identity

log = logging.getLogger(__name__)

_NOT_IN_USERNAME = re.compile(r"[^\w.@+-]")


def _username(claims, issuer: str) -> str:
    """The provider's name for the person if it is free here, else that name
    with a suffix drawn from the subject: never an existing user's name."""
    User = get_user_model()  # noqa: N806 - a model class
    wanted = claims.get("preferred_username") or (claims.get("email") or "").split("@")[0] or claims["sub"]
    wanted = _NOT_IN_USERNAME.sub("", str(wanted))[:120] or "user"
    if not User.objects.filter(username__iexact=wanted).exists():
        return wanted
    suffix = hashlib.sha256(f"{issuer} {claims['sub']}".encode()).hexdigest()[:10]
    return f"{wanted}-{suffix}"


def _profile(user, claims) -> list[str]:
    changed = []
    for name, claim in (("email", "email"), ("first_name", "given_name"), ("last_name", "family_name")):
        value = claims.get(claim)
        if isinstance(value, str) and value != getattr(user, name):
            setattr(user, name, value[:150])
            changed.append(name)
    return changed


def sync_roles(user, claims, config: OidcConfig) -> tuple[set[str], set[str]]:
    """Give ``user`` the roles the claim's groups map to and take away the
    other roles the map manages; roles the map never names are left alone
    (given here by an administrator, say). Returns (added, removed)."""
    wanted = roles_from_claims(claims, config)
    held = set(user.groups.filter(name__in=config.managed_roles).values_list("name", flat=True))
    added, removed = wanted - held, held - wanted
    if added:
        user.groups.add(*Group.objects.filter(name__in=added))
    if removed:
        user.groups.remove(*Group.objects.filter(name__in=removed))
    user.__dict__.pop("_release_roles", None)  # roles cached on the object (releasemgmt.workflow)
    return added, removed


@transaction.atomic
def sign_in(claims, config: OidcConfig):
    """The user the provider vouched for in ``claims`` (verified ID token and
    user info). A deactivated user is returned as it is, untouched: the
    caller refuses it."""
    User = get_user_model()  # noqa: N806 - a model class
    identity = (Identity.objects.select_for_update().select_related("user")
                .filter(issuer=config.issuer, subject=claims["sub"]).first())
    if identity is None:
        user = User(username=_username(claims, config.issuer))
        user.set_unusable_password()
        _profile(user, claims)
        user.save()
        identity = Identity.objects.create(user=user, issuer=config.issuer, subject=claims["sub"])
        log.info("Single sign-on: %s created for %s", user.username, identity)
    user = identity.user
    if not user.is_active:
        return user
    changed = _profile(user, claims)
    if changed:
        user.save(update_fields=changed)
    added, removed = sync_roles(user, claims, config)
    if added or removed:
        log.info("Single sign-on: %s roles added %s, removed %s", user.username, sorted(added), sorted(removed))
    Identity.objects.filter(pk=identity.pk).update(last_sign_in=timezone.now())
    return user

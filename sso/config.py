"""The single sign-on configuration, read from the environment by the
settings (``releasemgmt.settings``): pure Python, no model, so the settings
may import it before the apps are loaded.

``OidcConfig.from_env`` is the one parser: an unusable value stops the
process at start with the reason (``ImproperlyConfigured``), never a
sign-in that fails later.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured

from releasemgmt.roles import ROLES

DEFAULT_ROLES_CLAIM = "groups"
DEFAULT_SCOPES = "openid email profile"
# How fresh a sign-in at the provider must be to sign a decision (seconds).
DEFAULT_SIGN_MAX_AGE = 300


def parse_role_map(text: str) -> dict[str, str]:
    """``OIDC_ROLE_MAP``: comma-separated ``group=role`` pairs, e.g.
    ``release-managers=release_manager,cab=cab_member``. Groups are the
    provider's names, compared exactly; roles are the process's
    (``releasemgmt.roles.ROLES``). Several groups may give one role; one
    group gives one role."""
    mapping: dict[str, str] = {}
    for pair in (part.strip() for part in text.split(",")):
        if not pair:
            continue
        group, sep, role = (s.strip() for s in pair.partition("="))
        if not sep or not group or not role:
            raise ImproperlyConfigured(f"OIDC_ROLE_MAP: “{pair}” is not group=role.")
        if role not in ROLES:
            raise ImproperlyConfigured(f"OIDC_ROLE_MAP: “{role}” is not a role; the roles are {', '.join(ROLES)}.")
        if mapping.get(group, role) != role:
            raise ImproperlyConfigured(f"OIDC_ROLE_MAP: the group “{group}” is mapped to two roles.")
        mapping[group] = role
    return mapping


@dataclass(frozen=True)
class OidcConfig:
    """One identity provider, as the environment names it."""

    issuer: str
    client_id: str
    client_secret: str
    roles_claim: str = DEFAULT_ROLES_CLAIM
    role_map: Mapping[str, str] = field(default_factory=dict)
    provider_name: str = ""
    scopes: str = DEFAULT_SCOPES
    sign_algo: str = "RS256"
    sign_max_age: int = DEFAULT_SIGN_MAX_AGE

    @property
    def managed_roles(self) -> frozenset[str]:
        """The roles single sign-on grants and takes away: those the map
        names. Any other role a user holds is left as it is."""
        return frozenset(self.role_map.values())

    @property
    def display_name(self) -> str:
        return self.provider_name or urlsplit(self.issuer).hostname or self.issuer

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> OidcConfig | None:
        """The configuration, or None when ``OIDC_ISSUER`` is unset (single
        sign-on off)."""
        issuer = environ.get("OIDC_ISSUER", "").strip().rstrip("/")
        if not issuer:
            return None
        parts = urlsplit(issuer)
        if parts.scheme not in ("https", "http") or not parts.hostname or parts.query or parts.fragment:
            raise ImproperlyConfigured(f"OIDC_ISSUER: “{issuer}” is not an http(s) URL.")
        client_id, secret = environ.get("OIDC_CLIENT_ID", "").strip(), environ.get("OIDC_CLIENT_SECRET", "")
        if not client_id or not secret:
            raise ImproperlyConfigured("OIDC_ISSUER is set: OIDC_CLIENT_ID and OIDC_CLIENT_SECRET are needed too.")
        try:
            max_age = int(environ.get("OIDC_SIGN_MAX_AGE", str(DEFAULT_SIGN_MAX_AGE)))
        except ValueError:
            raise ImproperlyConfigured("OIDC_SIGN_MAX_AGE is a number of seconds.") from None
        if not 30 <= max_age <= 3600:
            raise ImproperlyConfigured("OIDC_SIGN_MAX_AGE: between 30 and 3600 seconds.")
        scopes = environ.get("OIDC_SCOPES", DEFAULT_SCOPES).split()
        if "openid" not in scopes:
            raise ImproperlyConfigured("OIDC_SCOPES must include openid.")
        return cls(issuer=issuer, client_id=client_id, client_secret=secret,
                   roles_claim=environ.get("OIDC_ROLES_CLAIM", "").strip() or DEFAULT_ROLES_CLAIM,
                   role_map=parse_role_map(environ.get("OIDC_ROLE_MAP", "")),
                   provider_name=environ.get("OIDC_PROVIDER_NAME", "").strip(), scopes=" ".join(scopes),
                   sign_algo=environ.get("OIDC_SIGN_ALGO", "RS256").strip() or "RS256", sign_max_age=max_age)


def roles_from_claims(claims: Mapping, config: OidcConfig) -> set[str]:
    """The roles the map gives for the groups in ``claims``. The claim is
    named by ``OIDC_ROLES_CLAIM``, a dotted path for a nested one
    (``realm_access.roles``); it holds a list of names or one name."""
    value = claims
    for key in config.roles_claim.split("."):
        value = value.get(key) if isinstance(value, Mapping) else None
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        return set()
    return {config.role_map[g] for g in value if isinstance(g, str) and g in config.role_map}

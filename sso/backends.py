"""mozilla-django-oidc, configured from ``settings.SSO`` and the provider's
discovery document rather than from one Django setting per endpoint.

The library reads its settings through ``get_settings``; ``library_setting``
answers them. Endpoints are looked up only when a sign-in needs them: Django
instantiates every authentication backend for each password login and the
session's backend on every request, and neither may reach the provider.
"""
from __future__ import annotations

import logging

import jwt
import requests
from django.conf import settings
from django.core.exceptions import SuspiciousOperation
from django.contrib.auth import get_user_model
from mozilla_django_oidc.auth import OIDCAuthenticationBackend
from mozilla_django_oidc.utils import import_from_settings

from . import accounts, discovery

log = logging.getLogger(__name__)

# Library setting -> attribute of settings.SSO.
_FROM_CONFIG = {"OIDC_RP_CLIENT_ID": "client_id", "OIDC_RP_CLIENT_SECRET": "client_secret",
                "OIDC_RP_SCOPES": "scopes", "OIDC_RP_SIGN_ALGO": "sign_algo"}
# Library setting -> field of the discovery document.
_DISCOVERED = {"OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint", "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
               "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint", "OIDC_OP_JWKS_ENDPOINT": "jwks_uri"}
# Fixed here, whatever the settings say: state and nonce checked, PKCE, TLS verified.
_FIXED = {"OIDC_USE_NONCE": True, "OIDC_USE_PKCE": True, "OIDC_VERIFY_SSL": True, "OIDC_TIMEOUT": 10,
          "OIDC_ALLOW_UNSECURED_JWT": False, "OIDC_RP_IDP_SIGN_KEY": None, "OIDC_CREATE_USER": True,
          "OIDC_STORE_ACCESS_TOKEN": False, "OIDC_STORE_ID_TOKEN": False,
          "OIDC_AUTHENTICATION_CALLBACK_URL": "sso:callback", "LOGIN_REDIRECT_URL_FAILURE": "login"}


def library_setting(attr, *default):
    if attr in _FIXED:
        return _FIXED[attr]
    if attr in _FROM_CONFIG:
        return getattr(settings.SSO, _FROM_CONFIG[attr])
    if attr in _DISCOVERED:
        return discovery.metadata().get(_DISCOVERED[attr])
    return import_from_settings(attr, *default)


class _Setting:
    """A library setting read when used, not when the backend is made."""

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, obj, owner=None):
        return library_setting(self.name)


class OidcBackend(OIDCAuthenticationBackend):
    """Signs in whoever the provider vouches for, by subject (``sso.accounts``).
    Answers only the single sign-on callback; passwords are not its business."""

    OIDC_OP_TOKEN_ENDPOINT = _Setting()
    OIDC_OP_USER_ENDPOINT = _Setting()
    OIDC_OP_JWKS_ENDPOINT = _Setting()
    OIDC_RP_CLIENT_ID = _Setting()
    OIDC_RP_CLIENT_SECRET = _Setting()
    OIDC_RP_SIGN_ALGO = _Setting()
    OIDC_RP_IDP_SIGN_KEY = _Setting()
    get_settings = staticmethod(library_setting)

    def __init__(self, *args, **kwargs):  # the library reads every endpoint here
        self.UserModel = get_user_model()

    def authenticate(self, request, **kwargs):
        if settings.SSO is None or request is None or "nonce" not in kwargs:
            return None
        try:
            return super().authenticate(request, **kwargs)
        except (requests.RequestException, discovery.DiscoveryError, SuspiciousOperation, jwt.PyJWTError,
                KeyError, ValueError, TypeError) as exc:  # an answer that does not hold up: no sign-in, no 500
            log.warning("Single sign-on refused: %s", exc)
            request.sso_error = "The identity provider's answer could not be verified."
            return None

    def retrieve_matching_jwk(self, token):
        """The provider's key that signed ``token``: the one its ``kid``
        names, or, when the token names none, the provider's only signing
        key for the algorithm (the library insists on a ``kid``)."""
        header = jwt.get_unverified_header(token)
        response = requests.get(self.OIDC_OP_JWKS_ENDPOINT, timeout=library_setting("OIDC_TIMEOUT"))
        response.raise_for_status()
        keys = [key for key in response.json().get("keys", [])
                if key.get("use", "sig") == "sig" and key.get("alg", header.get("alg")) == header.get("alg")
                and ("kid" not in header or key.get("kid") == header["kid"])]
        if len(keys) != 1:
            raise SuspiciousOperation("No single key of the provider matches the ID token.")
        return jwt.PyJWK(keys[0])

    def verify_token(self, token, **kwargs):
        """The library checks the signature, expiry and nonce; the issuer and
        the audience are checked here (OpenID Connect Core 3.1.3.7)."""
        payload = super().verify_token(token, **kwargs)
        config = settings.SSO
        audience = payload.get("aud")
        audience = [audience] if isinstance(audience, str) else audience or []
        if str(payload.get("iss", "")).rstrip("/") != config.issuer:
            raise SuspiciousOperation("The ID token was issued by another issuer.")
        if config.client_id not in audience or (len(audience) > 1 and payload.get("azp") != config.client_id):
            raise SuspiciousOperation("The ID token was issued to another client.")
        if "exp" not in payload or "sub" not in payload:
            raise SuspiciousOperation("The ID token has no expiry or no subject.")
        return payload

    def get_or_create_user(self, access_token, id_token, payload):
        info = self.get_userinfo(access_token, id_token, payload) if self.OIDC_OP_USER_ENDPOINT else {}
        if info.get("sub", payload["sub"]) != payload["sub"]:
            raise SuspiciousOperation("The user info names another subject than the ID token.")
        claims = {**info, **payload}  # the ID token's own claims (sub, auth_time) win
        # The callback reads when the provider authenticated the person (auth_time).
        self.request.sso_claims = payload
        return accounts.sign_in(claims, settings.SSO)

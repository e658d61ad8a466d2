"""Gate tokens: ``Authorization: Bearer gate_…``, accepted by the gate alone.

The class is among the API's default authentication classes so that a gate
token sent anywhere else is recognised and refused (403, kept as a refused
attempt naming the service account) rather than taken for an anonymous
request. A view accepts gate tokens by declaring ``accepts_gate_tokens``;
only the gate's views do.

DRF imports the authentication classes when its views module is first
imported, possibly before the apps are loaded: nothing here touches a model
(or a module that does) at import time.
"""
from __future__ import annotations

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, get_authorization_header

KEYWORD = "Bearer"
OUT_OF_SCOPE = "A pipeline token is accepted only by the deployment gate (/api/gate/)."


def accepts_gate_tokens(request) -> bool:
    """Whether the view this request is routed to takes gate tokens."""
    match = getattr(request._request, "resolver_match", None)
    view = getattr(match.func, "cls", None) if match else None
    return bool(getattr(view, "accepts_gate_tokens", False))


class GateTokenAuthentication(BaseAuthentication):
    """A pipeline's token (``pipelines.models.PipelineToken``): its service
    account on the gate's routes; a 403 anywhere else; a 401 when it is not
    a valid, unrevoked token of an active account."""

    def authenticate(self, request):
        from releasemgmt import refusals
        from releasemgmt.workflow import TransitionForbidden

        from .models import PipelineToken

        header = get_authorization_header(request).split()
        if not header or header[0].lower() != KEYWORD.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("Give the token as 'Authorization: Bearer <token>'.")
        try:
            key = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("Invalid token.") from None
        token = PipelineToken.for_key(key)
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("Invalid or revoked token.")
        if not accepts_gate_tokens(request):
            refusals.keep(TransitionForbidden("gate_token_scope", OUT_OF_SCOPE), by=token.user)
            raise exceptions.PermissionDenied(OUT_OF_SCOPE)
        return token.user, token

    def authenticate_header(self, request):
        return KEYWORD

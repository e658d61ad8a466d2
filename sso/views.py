"""The sign-in pages: the login page (with "Sign in with <provider>" when
single sign-on is configured, without the password form when local accounts
are off), the start of a sign-in at the provider, its callback, and the
round trip that signs a decision with a fresh sign-in there."""
from __future__ import annotations

import logging
import time
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.utils.decorators import method_decorator
from django.views.generic import View
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from releasemgmt.signing import PROVIDER_LOGIN_SESSION_KEY

from . import discovery
from .backends import library_setting

log = logging.getLogger(__name__)

# The decision waiting for a fresh sign-in: the path its form posts to, the
# fields posted (the password and CSRF token aside), who posted it, and the
# state of the sign-in asked for it (sso.middleware, SignAgain).
RESUME_SESSION_KEY = "sso_resume"
# How far the provider's clock may be behind ours when it says when the
# person signed in again.
CLOCK_SKEW_SECONDS = 30


def _configured():
    if settings.SSO is None:
        raise Http404("Single sign-on is not configured.")
    return settings.SSO


class LoginView(auth_views.LoginView):
    """Django's login page, offering single sign-on when it is configured and
    refusing passwords when local accounts are switched off."""

    redirect_authenticated_user = True

    def get_context_data(self, **kwargs):
        return {**super().get_context_data(**kwargs), "sso": settings.SSO,
                "local_login": settings.LOCAL_LOGIN_ENABLED}

    def post(self, request, *args, **kwargs):
        if not settings.LOCAL_LOGIN_ENABLED:
            return self.render_to_response(self.get_context_data(local_login_refused=True), status=403)
        return super().post(request, *args, **kwargs)


class SignIn(OIDCAuthenticationRequestView):
    """Sends the browser to the provider's authorization endpoint, with a
    state, a nonce and a PKCE challenge kept in the session (the library)."""

    get_settings = staticmethod(library_setting)
    OIDC_OP_AUTH_ENDPOINT = property(lambda self: library_setting("OIDC_OP_AUTHORIZATION_ENDPOINT"))
    OIDC_RP_CLIENT_ID = property(lambda self: library_setting("OIDC_RP_CLIENT_ID"))

    def __init__(self, **kwargs):  # the library reads the endpoint here; it is read when used
        View.__init__(self, **kwargs)

    def get(self, request):
        config = _configured()
        try:
            return super().get(request)
        except discovery.DiscoveryError as exc:
            log.warning("Single sign-on unavailable: %s", exc)
            messages.error(request, f"{config.display_name} cannot be reached now; try again in a moment.")
            return redirect("login")


@method_decorator(login_required, name="dispatch")
class SignAgain(SignIn):
    """A fresh sign-in for the decision waiting in the session: the provider
    is asked to authenticate the person again (``prompt=login``) and to say
    when it did (``max_age``, answered by ``auth_time``)."""

    def get_extra_params(self, request):
        return {"prompt": "login", "max_age": str(settings.SSO.sign_max_age)}

    def get(self, request):
        _configured()
        resume = request.session.get(RESUME_SESSION_KEY)
        if not resume or resume.get("user") != request.user.pk:
            return redirect("dashboard")
        response = super().get(request)
        location = urlsplit(response.get("Location", ""))
        state = parse_qs(location.query).get("state", [None])[0]
        if state:
            request.session[RESUME_SESSION_KEY] = {**resume, "state": state, "started": time.time()}
        return response


class Callback(OIDCAuthenticationCallbackView):
    """Where the provider sends the browser back. A sign-in logs the person in
    (a deactivated user is refused); a fresh sign-in asked to sign a decision
    only proves, for that decision, that the signed-in user just signed in
    again there, and never changes who is logged in."""

    get_settings = staticmethod(library_setting)

    def get(self, request):
        config = _configured()
        resume = request.session.get(RESUME_SESSION_KEY) or {}
        self.resume = resume if resume.get("state") and request.GET.get("state") == resume["state"] else None
        if self.resume and request.GET.get("error"):
            # Cancelled or refused at the provider: the decision waits, unsigned; the person stays logged in.
            request.session.get("oidc_states", {}).pop(request.GET.get("state"), None)
            request.session.modified = True
            messages.error(request, f"You did not sign in again at {config.display_name}; nothing was signed.")
            return HttpResponseRedirect(self.resume.get("page") or "/")
        return super().get(request)

    def login_success(self):
        if self.resume is not None:
            return self.signed_again()
        return super().login_success()

    def login_failure(self):
        request, user = self.request, getattr(self, "user", None)
        name = settings.SSO.display_name
        if user is not None and not user.is_active:
            log.warning("Single sign-on refused to deactivated user %s", user.username)
            text = "Your account here is deactivated: ask an administrator."
        else:
            text = getattr(request, "sso_error", None) or f"The sign-in at {name} did not complete."
        if self.resume is not None:
            messages.error(request, f"{text} Nothing was signed.")
            return HttpResponseRedirect(self.resume.get("page") or "/")
        messages.error(request, text)
        return redirect("login")

    def signed_again(self):
        request, config = self.request, settings.SSO
        auth_time = (getattr(request, "sso_claims", None) or {}).get("auth_time")
        now = time.time()
        if self.user.pk != request.user.pk:
            log.warning("Single sign-on: %s signed in again as %s to sign; refused", request.user, self.user)
            messages.error(request, f"You signed in at {config.display_name} as someone else; nothing was signed.")
        elif (not isinstance(auth_time, (int, float)) or auth_time < self.resume["started"] - CLOCK_SKEW_SECONDS
              or now - auth_time > config.sign_max_age):
            messages.error(request, f"{config.display_name} did not ask you to sign in again; nothing was signed.")
        else:
            request.session[PROVIDER_LOGIN_SESSION_KEY] = {"user": request.user.pk, "auth_time": auth_time,
                                                           "path": self.resume["path"]}
            return redirect("sso:resume")
        return HttpResponseRedirect(self.resume.get("page") or "/")


_NOT_SHOWN = {"next", "from", "transition"}


@login_required
def resume_view(request):
    """Back from the provider: the decision as it was posted, to be sent again
    with the fresh sign-in (one press; the sign-in signs it)."""
    config = _configured()
    resume = request.session.get(RESUME_SESSION_KEY)
    proof = request.session.get(PROVIDER_LOGIN_SESSION_KEY)
    if not resume or resume.get("user") != request.user.pk or not proof or proof.get("path") != resume["path"]:
        messages.error(request, "No decision is waiting for your signature.")
        return redirect("dashboard")
    fields = [(name, value) for name, values in resume["data"] for value in values]
    shown = [(name.rpartition("-")[2].replace("_", " ").capitalize(), value) for name, value in fields
             if name not in _NOT_SHOWN and value]
    return render(request, "sso/resume.html", {"resume": resume, "fields": fields, "shown": shown,
                                               "provider": config.display_name})

"""A signed decision posted by someone who signs at the identity provider,
with no fresh sign-in for it: the form is kept in the session and the browser
sent to sign in again (``releasemgmt.signing.ReauthenticationRequired``,
raised before any service runs). Back from the provider, ``sso:resume``
sends the same form again, now signed."""
from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import HttpResponseClientRedirect

from releasemgmt.signing import ReauthenticationRequired, signs_at_provider

from .views import RESUME_SESSION_KEY

# Never kept: the CSRF token (the resumed form gets a new one) and a password.
_NOT_KEPT = {"csrfmiddlewaretoken", "password"}


class SignAtProviderMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if settings.SSO is not None and response.get("Content-Type", "").startswith("text/html") \
                and signs_at_provider(getattr(request, "user", None)):
            # A signed form of this page leads, through our redirect, to the
            # provider: the browser holds such a redirect to the page's
            # form-action, so the provider's origin is allowed there too.
            issuer = urlsplit(settings.SSO.issuer)
            update = dict(getattr(response, "_csp_update", None) or {})
            update["form-action"] = [*update.get("form-action", ()), f"{issuer.scheme}://{issuer.netloc}"]
            response._csp_update = update
        return response

    def process_exception(self, request, exception):
        if not isinstance(exception, ReauthenticationRequired) or request.method != "POST":
            return None
        referer = request.headers.get("Referer", "")
        page = referer if url_has_allowed_host_and_scheme(referer, allowed_hosts={request.get_host()}) else "/"
        request.session[RESUME_SESSION_KEY] = {
            "user": request.user.pk, "path": request.path, "page": page,
            "data": [[name, values] for name, values in request.POST.lists() if name not in _NOT_KEPT]}
        target = reverse("sso:sign")
        if getattr(request, "htmx", False):
            return HttpResponseClientRedirect(target)
        return redirect(target)

"""Security plumbing shared by the browser UI and the API: a correlation id
per request (in the response header, every log line and the 500 page), the
generic 500 answers, the client's address behind trusted proxies, the login
lock-out page, the API rate limit and the revocation of a deactivated user's
sessions and tokens.

Imported by the logging configuration, before the apps are loaded: models are
imported inside the functions that use them.
"""
from __future__ import annotations

import contextvars
import hashlib
import ipaddress
import logging
import re
import uuid

from django.http import HttpResponse, JsonResponse
from django.template import loader
from django.utils.cache import patch_cache_control
from django.conf import settings
from rest_framework.permissions import BasePermission
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

log = logging.getLogger(__name__)

# --- correlation id -------------------------------------------------------------------

REQUEST_ID_HEADER = "X-Request-ID"
# An inbound id (from a proxy or a client) is kept only if it is short and
# plain, so it cannot forge log lines or carry markup into the 500 page.
_SANE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{7,63}$")
_current_id: contextvars.ContextVar[str] = contextvars.ContextVar("correlation_id", default="-")
_current_request: contextvars.ContextVar = contextvars.ContextVar("request", default=None)


def current_correlation_id() -> str:
    return _current_id.get()


def current_request():
    """The request being answered in this thread (None outside one)."""
    return _current_request.get()


class CorrelationIdMiddleware:
    """Gives each request an id: a sane inbound ``X-Request-ID``, else a new
    uuid4. The id is on ``request.correlation_id``, on every log record
    written while the request runs, and on the response header."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        inbound = request.headers.get(REQUEST_ID_HEADER, "")
        cid = inbound if _SANE_ID.match(inbound) else uuid.uuid4().hex
        request.correlation_id = cid
        token, request_token = _current_id.set(cid), _current_request.set(request)
        try:
            response = self.get_response(request)
        finally:
            _current_id.reset(token)
            _current_request.reset(request_token)
        response[REQUEST_ID_HEADER] = cid
        return response


_base_factory = logging.getLogRecordFactory()


def _record_factory(*args, **kwargs):
    # On the record itself, so every handler sees it (the console, a
    # collector, pytest's caplog), not only the handlers that carry a filter.
    record = _base_factory(*args, **kwargs)
    record.correlation_id = _current_id.get()
    return record


logging.setLogRecordFactory(_record_factory)


class CorrelationIdFilter(logging.Filter):
    """For handlers whose format names ``%(correlation_id)s``: records made
    before this module was imported have no id. Django logs a 4xx or 5xx
    response (``django.request``) once the middleware has returned, when the
    request's id is no longer current: it is read from the request the
    record carries."""

    def filter(self, record):
        request_id = getattr(getattr(record, "request", None), "correlation_id", None)
        if isinstance(request_id, str) and getattr(record, "correlation_id", "-") == "-":
            record.correlation_id = request_id
        elif not hasattr(record, "correlation_id"):
            record.correlation_id = _current_id.get()
        return True


# --- caching ---------------------------------------------------------------------------


class ApiNoStoreMiddleware:
    """``Cache-Control: no-store`` on every API response: they carry what one
    user may see, or a credential (the token endpoint), and no browser,
    proxy or disk cache is to keep them."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if request.path_info.startswith("/api/"):
            patch_cache_control(response, no_store=True)
        return response


# --- errors ---------------------------------------------------------------------------


def server_error(request, *args, **kwargs):
    """``handler500``. Django has already logged the exception with its
    traceback (and the correlation id); the client gets only the id, never
    the traceback, the SQL or a setting. The API answers in its error shape."""
    cid = getattr(request, "correlation_id", None) or current_correlation_id()
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": "A server error occurred. Quote the correlation id if you report it.",
                             "code": "server_error", "correlation_id": cid}, status=500)
    try:
        # No context processors: whatever broke the request may break them too.
        body = loader.get_template("500.html").render({"correlation_id": cid})
    except Exception:  # the error page must not fail in turn
        log.exception("The 500 page could not be rendered")
        body = f"<!doctype html><title>Server error</title><h1>Server error</h1><p>Correlation id: {cid}</p>"
    return HttpResponse(body, status=500)


# --- the client's address --------------------------------------------------------------


def client_address(request) -> str:
    """The address of the client that sent ``request``: what the API rate
    limit (anonymous clients) and the login lock-out (django-axes,
    ``AXES_CLIENT_IP_CALLABLE``) both key on.

    With ``TRUSTED_PROXY_COUNT`` at 0 (the default) the app is reached
    directly and the address is the connection's peer, ``REMOTE_ADDR``;
    X-Forwarded-For is whatever the client wrote and is ignored.

    Behind N trusted reverse proxies, each appends the address it received
    the request from to X-Forwarded-For, so the N-th entry from the right is
    the one the outermost trusted proxy wrote: the client's address. Entries
    left of it came with the request and are not believed. Should a request
    carry fewer entries than that (it passed fewer proxies), the leftmost is
    the one the first proxy that saw it wrote. An entry that is no address
    (a misconfigured proxy) falls back to ``REMOTE_ADDR``, with a warning.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    trusted = settings.TRUSTED_PROXY_COUNT
    if trusted <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if not forwarded:
        # A proxy's own health checks, or a request that bypassed the proxies.
        log.info("TRUSTED_PROXY_COUNT is %s but the request has no X-Forwarded-For: using the peer address",
                 trusted)
        return remote
    entry = forwarded[-min(trusted, len(forwarded))]
    address = _parse_address(entry)
    if address is None:
        log.warning("X-Forwarded-For entry %r is not an address: using the peer address", entry[:64])
        return remote
    return address


def _parse_address(entry: str) -> str | None:
    """``entry`` as a canonical IP address; a port some proxies add
    (``192.0.2.1:5123``, ``[2001:db8::1]:5123``) is dropped."""
    candidates = [entry]
    if entry.startswith("[") and "]" in entry:
        candidates.append(entry[1:entry.index("]")])
    elif entry.count(":") == 1:
        candidates.append(entry.split(":", 1)[0])
    for candidate in candidates:
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    return None


# --- login lock-out (django-axes) -------------------------------------------------------


def lockout_response(request, original_response=None, credentials=None):
    """``AXES_LOCKOUT_CALLABLE``: the UI and admin logins show a page that
    says the account is locked and for how long; 429 with Retry-After."""
    from django.conf import settings

    seconds = int(settings.AXES_COOLOFF_TIME.total_seconds()) if settings.AXES_COOLOFF_TIME else None
    context = {"failure_limit": settings.AXES_FAILURE_LIMIT, "cooloff_minutes": (seconds or 0) // 60}
    if request.path.startswith("/api/"):
        response = JsonResponse({"detail": "Too many failed logins: try again later.", "code": "locked_out"},
                                status=429)
    else:
        response = HttpResponse(loader.render_to_string("registration/locked_out.html", context, request=request),
                                status=429)
    if seconds:
        response["Retry-After"] = str(seconds)
    return response


def signature_locked_out(user) -> bool:
    """Whether django-axes has locked ``user`` out (for the current request's
    client): a locked-out user can neither log in nor sign. The request is
    marked, so the answer is the lock-out response (429), as for a login.
    Outside a request (a shell, a command) there is no lock-out."""
    from axes.handlers.proxy import AxesProxyHandler

    request = _current_request.get()
    if request is None:
        return False
    credentials = {"username": user.get_username()}
    if AxesProxyHandler.is_allowed(request, credentials):
        return False
    request.axes_locked_out = True
    request.axes_credentials = credentials
    return True


def check_signature_password(user, password: str) -> bool:
    """Whether ``password`` is the password of ``user`` (active), typed to
    sign a decision (``releasemgmt.signing.Password``). The check itself
    writes nothing: the service refusing a wrong signature rolls its
    transaction back, so the failed login is counted afterwards
    (``count_failed_signature``), and a locked-out user is refused before
    (``signature_locked_out``)."""
    # With local accounts switched off (single sign-on only) no password proves anyone.
    return (bool(password) and settings.LOCAL_LOGIN_ENABLED and user.is_active
            and user.check_password(password))


def count_failed_signature(user) -> None:
    """A wrong password typed to sign is a failed login in all but name:
    django-axes counts it for the signer and the request's client, and locks
    them out at the limit (a stolen session cannot be used to guess the
    password). Outside a request nothing is counted (axes counts per client)."""
    from django.contrib.auth.signals import user_login_failed

    request = _current_request.get()
    if request is None:
        return
    user_login_failed.send(sender=__name__, credentials={"username": user.get_username()}, request=request)


# --- API rate limit ------------------------------------------------------------------------


class SchemaAccess(BasePermission):
    """The OpenAPI schema and docs: open where ``API_SCHEMA_PUBLIC`` is on
    (the default, as the API contract says), otherwise for logged-in users
    (production). Read per request, so a test can switch it."""

    def has_permission(self, request, view):
        return bool(settings.API_SCHEMA_PUBLIC or (request.user and request.user.is_authenticated))


class ApiRateThrottle(SimpleRateThrottle):
    """One budget per API token; a browser session counts against its user,
    an anonymous client against its address (``client_address``: behind
    trusted proxies, the address they forwarded). The rates are
    ``REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]`` ``api`` (authenticated) and
    ``anon``, read per request so a settings override takes effect; the
    counters live in the default cache (Redis in production, shared by all
    workers). An exceeded budget is a 429 with Retry-After before the view
    runs, so the refused request changes nothing.

    The budget is counted in fixed windows of the rate's period (a minute
    for ``1200/minute``): one counter per caller and window, incremented in
    one round trip to Redis (``releasemgmt.cache.hit``), where DRF's own
    throttle reads and rewrites a list of timestamps (two round trips, and
    a lost update between workers). A caller may spend one window's budget
    at its end and the next at the start of the next: at most twice the rate
    over a period, never more."""

    def __init__(self):
        # The rate depends on who is asking: chosen in allow_request.
        self._wait = None

    def allow_request(self, request, view):
        from .cache import hit

        authenticated = bool(request.user and request.user.is_authenticated)
        self.scope = "api" if authenticated else "anon"
        self.rate = api_settings.DEFAULT_THROTTLE_RATES.get(self.scope)
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        key = self.get_cache_key(request, view)
        now = self.timer()
        window = int(now // self.duration)
        count = hit(self.cache, f"{key}:{window}", self.duration)
        if count is None:
            # Fail open: the API keeps answering while Redis is down (as it
            # does for the outbox); the limit is back with the cache.
            log.warning("Rate limit not applied: the cache is unavailable")
            return True
        self._wait = (window + 1) * self.duration - now
        return count <= self.num_requests

    def wait(self):
        return self._wait

    def get_ident(self, request):
        # Not DRF's: it believes X-Forwarded-For unless NUM_PROXIES is set,
        # and the lock-out must key on the same address as this limit.
        return client_address(request)

    def get_cache_key(self, request, view):
        from rest_framework.authtoken.models import Token

        if isinstance(request.auth, Token):
            # A digest: the cache must not hold the credential itself.
            ident = "token:" + hashlib.sha256(request.auth.key.encode()).hexdigest()[:32]
        elif request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        else:
            ident = "ip:" + self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}


# --- revocation -------------------------------------------------------------------------------


def revoke_credentials(user) -> tuple[int, int]:
    """Delete ``user``'s API tokens and server-side sessions; returns how
    many of each. Django and DRF refuse an inactive user anyway; deleting the
    rows makes the revocation hold even if the user is reactivated later, and
    leaves nothing that still looks valid."""
    from django.contrib.auth import SESSION_KEY
    from django.contrib.sessions.models import Session
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    tokens, _ = Token.objects.filter(user=user).delete()
    # Session data is encoded: find the user's sessions by decoding the live ones.
    mine = [s.pk for s in Session.objects.filter(expire_date__gt=timezone.now()).iterator()
            if s.get_decoded().get(SESSION_KEY) == str(user.pk)]
    sessions, _ = Session.objects.filter(pk__in=mine).delete()
    if tokens or sessions:
        log.info("Revoked %s token(s) and %s session(s) of deactivated user %s", tokens, sessions, user.pk)
    return tokens, sessions


def revoke_on_deactivation(sender, instance, created=False, update_fields=None, **kwargs):
    """``post_save`` of the user model: a user saved inactive (admin, API,
    shell) loses every session and token at once."""
    if created or instance.is_active:
        return
    if update_fields is not None and "is_active" not in update_fields:
        return
    revoke_credentials(instance)

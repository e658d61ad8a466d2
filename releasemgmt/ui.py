"""What the pages of every app share: who may read, and how a domain error
becomes something a person sees in place.

The apps' views (releases, RFCs and problems, the CMDB) stand on this
module; it imports none of them."""
from __future__ import annotations

from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.http import Http404, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme

from .authz import reader
from .forms import TransitionForm
from .refusals import keep, refusal_code, transition_check
from .signing import SignatureError, SignatureLocked
from .workflow import TransitionError, TransitionForbidden, available, specs, state_field


def refuse_page(request, kwargs, detail: str):
    """The 403 of a page this user's roles do not open. Looking is not an
    attempt to act; a write sent to it (a form posted, a button pressed by
    someone without a role) is, and is kept like any refused write."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        raise PermissionDenied(detail)
    match = request.resolver_match
    forbid(TransitionForbidden(kwargs.get("name") or (match.url_name if match else "") or "write", detail),
           by=request.user)


def reader_required(view):
    """Logged in and holding a role that reads the process (not vendor-only):
    the pages of releases, RFCs, the CMDB, the CAB and reports. What each
    page then lists is what ``restrict`` lets the user see."""

    @login_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not reader(request.user).internal:
            refuse_page(request, kwargs, "Your role does not give access to this page.")
        return view(request, *args, **kwargs)

    return wrapped


def role_required(view):
    """Logged in and holding some role of the process (a vendor too)."""

    @login_required
    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if not reader(request.user).anything:
            refuse_page(request, kwargs, "You have no role in the release process.")
        return view(request, *args, **kwargs)

    return wrapped


def target_label(model, state: str) -> str:
    """The readable name of a state of ``model``'s state machine."""
    return dict(model._meta.get_field(state_field(model)).choices).get(state, state)


def forbid(exc: TransitionError, *, by=None):
    """A refusal of authority as the 403 page, once it is kept (``by``: who
    was refused, when no service said)."""
    keep(exc, by=by)
    raise PermissionDenied(exc.detail) from exc


def ask(check, **kwargs) -> None:
    """Ask a service's check (``by=`` the user) before a form for writing is
    shown or read; a refusal is kept and answered with the 403 page."""
    try:
        check(**kwargs)
    except TransitionError as exc:
        if refusal_code(exc) is None:
            raise
        forbid(exc)


def error_lines(exc: Exception) -> list[str]:
    """A refused use case as sentences: the detail, then each blocker."""
    if isinstance(exc, TransitionError):
        lines = [exc.detail]
        lines += [b.message for b in exc.blockers if b.message != exc.detail]
        return lines
    if isinstance(exc, ValidationError):
        if hasattr(exc, "error_dict"):
            return [m for msgs in exc.message_dict.values() for m in msgs]
        return list(exc.messages)
    return [str(exc)]


def signature_errors(form, exc: SignatureError) -> int:
    """A refused signature on the form's password field (the form is
    answered again, 400), or the lock-out (429, which django-axes' page
    replaces)."""
    form.add_error("password" if "password" in form.fields else None, exc.detail)
    return 429 if isinstance(exc, SignatureLocked) else 400


def apply_errors(form, exc: Exception) -> int:
    """Put a refused use case's errors on the form, on the fields they name
    when the form has them; returns the HTTP status to answer with. A 403
    (forbidden) is the 403 page; a refused signature stays on the form."""
    if isinstance(exc, SignatureError):
        return signature_errors(form, exc)
    if isinstance(exc, TransitionError) and exc.status == 403:
        forbid(exc)
    if isinstance(exc, ValidationError) and hasattr(exc, "error_dict"):
        for name, lines in exc.message_dict.items():
            target = name if name in form.fields else None
            for message in lines:
                if target is None and name != NON_FIELD_ERRORS:
                    message = f"{name.replace('_', ' ').capitalize()}: {message}"
                form.add_error(target, message)
        return 400
    for line in error_lines(exc):
        form.add_error(None, line)
    return getattr(exc, "status", 400)


def post_only(page: str, key: str | None = "pk"):
    """For a view that only a form's POST reaches: a GET of its address (a
    reload after a refused form was shown there, a link copied from the
    address bar) is sent to ``page``, the page the form belongs to, named
    by its URL and the view's ``key`` argument, instead of a 405 error
    page. Other methods are still refused."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if request.method == "POST":
                return view(request, *args, **kwargs)
            if request.method in ("GET", "HEAD"):
                return redirect(reverse(page, args=[kwargs[key]] if key else []))
            return HttpResponseNotAllowed(["POST"])

        return wrapped

    return decorator


def redirect_back(request, default):
    target = request.POST.get("next") or request.GET.get("next")
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                   require_https=request.is_secure()):
        return redirect(target)
    return redirect(default)


def post_transition(request, obj, name, *, perform, render_page, **form_options):
    """A transition button pressed in the UI, for any state machine: the
    service's own role check first (so a forbidden press is a 403 page, and
    kept), the reason or password the transition asks for, then the service
    itself, which checks the signature.

    Returns ``(moved, None)`` on success, with a message queued for the next
    page, or ``(None, response)``: the page re-rendered with the errors in
    place of the button (400 for the form, the service's status otherwise).
    """
    spec = specs(type(obj)).get(name)
    if spec is None or spec.internal:
        raise Http404("No such transition.")
    ask(transition_check, obj=obj, spec=spec, by=request.user)
    form = TransitionForm(request.POST, user=request.user, reason=spec.reason, signed=spec.signed is not None,
                          prefix=name, **form_options)
    if not form.is_valid():
        return None, render_page(request, obj.pk, status=400, transition=(name, form, []))
    try:
        moved = perform(by=request.user, signature=form.credential(), **form.payload())
    except SignatureError as exc:
        status = signature_errors(form, exc)
        return None, render_page(request, obj.pk, status=status, transition=(name, form, []))
    except TransitionError as exc:
        if exc.status == 403:
            forbid(exc)
        return None, render_page(request, obj.pk, status=exc.status, transition=(name, form, error_lines(exc)))
    # The state's label as the tracker shows it ("Plan submitted to CAB", "Go"), not lowercased.
    messages.success(request, f"{spec.title}: done. {moved.number} is now “{moved.get_state_display()}”.")
    return moved, None


def transition_buttons(obj, user, url_name, transition=None) -> list[dict]:
    """The transitions ``user`` may press on ``obj``'s page, each with its
    form (reason asked where the transition requires one) and, for the one
    just refused, the submitted form and its errors (see ``post_transition``).
    Transitions the user's roles do not allow are not shown."""
    buttons = []
    for t in available(obj, user):
        if any(b["code"] == "role_forbidden" for b in t["blockers"]):
            continue
        t = dict(t, url=reverse(url_name, args=[obj.pk, t["name"]]), forbidden=False,
                 target_label=target_label(type(obj), t["target"]), setback=specs(type(obj))[t["name"]].setback)
        t["signed"] = t["signature_required"]
        if transition and transition[0] == t["name"]:
            t["form"], t["errors"] = transition[1], transition[2]
        else:
            t["form"] = TransitionForm(user=user, reason=t["reason_required"], signed=t["signed"], prefix=t["name"])
            t["errors"] = []
        buttons.append(t)
    return buttons

"""Refused attempts are evidence too.

The services decide who may do what; a refusal of authority (a role that
may not, or segregation of duties) is kept as a ``RefusedAttempt`` row naming
the user, the action, the object and the entry point it came through
(``releasemgmt.entrypoints``), and logged as a warning, so the attempt is in
the log stream even if a caller's transaction is rolled back. A wrong state
or an unmet condition is not a refusal of authority and is not kept.

Two kinds of functions carry ``logs_refusals``:

* the service entry points (``release_create``, ``record_add``, ...), and
* the *checks* of the service modules (``release_update_check``,
  ``record_access_check``, ...): the function a service calls under its lock,
  and that an entry point calls first when it must answer 403 before it reads
  a request's body.

Only the outermost of nested ones records (a check called by its service,
``record_add`` called by ``release_create_from_template``): one attempt, one
row. The row is written after the service's own transaction has ended, in the
caller's transaction if there is one. An entry point that runs a service
inside a transaction of its own (the API's If-Match lock, an admin form)
rolls that row back with it, so it calls ``keep`` once the refusal has left
its transaction; ``keep`` writes the row again if, and only if, it is gone.

``permits`` asks a check without recording anything: for what a page offers
(a button, a form, an "Add" link), where nobody has attempted anything yet.
"""
from __future__ import annotations

import contextvars
import functools
import logging
from dataclasses import dataclass
from typing import Any

from django.apps import apps
from django.contrib.contenttypes.models import ContentType

from . import entrypoints
from .errors import SOD
from .workflow import TransitionError, check_may_act

logger = logging.getLogger("releasemgmt.refusals")

# Where refused attempts are kept: a model of the release process's audit
# tables (a model stays in its app), looked up by name, as the transition log
# is, so that the ground imports no app.
ATTEMPT_MODEL = ("releases", "RefusedAttempt")


def attempt_model():
    return apps.get_model(*ATTEMPT_MODEL)

# How many functions carrying ``logs_refusals`` (or a ``permits`` question)
# are running now, one inside the other: only the outermost records.
_depth: contextvars.ContextVar[int] = contextvars.ContextVar("refusal_depth", default=0)


@dataclass
class Refusal:
    """What an entry point needs to keep a refusal: who, on what, through
    which door, and the row once written."""

    by: Any
    subject: tuple | None
    entry_point: str
    row_id: int | None = None


def refusal_code(exc) -> str | None:
    """The code recorded for this error, or None when it is not a refusal of
    authority (a wrong state or an unmet condition is not)."""
    if not isinstance(exc, TransitionError):
        return None
    if any(b.code == SOD for b in exc.blockers):
        return SOD
    if exc.status == 403:
        return getattr(exc, "refusal_code", "forbidden")
    return None


def note(exc, *, by, subject=None) -> None:
    """Attach who was refused, on what and through which door to ``exc``,
    unless a function nearer the refusal already did."""
    if refusal_code(exc) and getattr(exc, "refusal", None) is None:
        exc.refusal = Refusal(by=by if getattr(by, "pk", None) else None, subject=subject,
                              entry_point=entrypoints.current())


def keep(exc, *, by=None, subject=None) -> None:
    """Make sure this refusal has its row now: write it unless the row written
    earlier still stands (one rolled back with a transaction the refusal has
    left is written again). ``by`` and ``subject`` name the attempt when no
    service did (a refusal raised outside ``logs_refusals``)."""
    if refusal_code(exc) is None:
        return
    note(exc, by=by, subject=subject)
    refusal = exc.refusal
    if refusal.row_id is not None and attempt_model().objects.filter(pk=refusal.row_id).exists():
        return
    first = refusal.row_id is None
    refusal.row_id = _write(exc, refusal, log=first).pk


def _write(exc, refusal: Refusal, *, log: bool):
    code = refusal_code(exc)
    user = refusal.by
    detail = exc.detail
    if code == SOD:  # the rule that refused, not a count of blockers
        detail = next(b.message for b in exc.blockers if b.code == SOD)
    content_type = object_id = None
    if refusal.subject is not None:
        model, object_id = refusal.subject
        content_type = ContentType.objects.get_for_model(model)
    if log:
        logger.warning("refused %s by %s on %s #%s through %s: %s (%s)", exc.name,
                       getattr(user, "username", "anonymous"), content_type and content_type.model, object_id,
                       refusal.entry_point, detail, code)
    return attempt_model().objects.create(
        by=user, username=getattr(user, "username", ""), action=str(exc.name)[:50],
        content_type=content_type, object_id=object_id, code=code, detail=detail,
        entry_point=refusal.entry_point,
    )


def logs_refusals(subject=None):
    """Keep a refusal of the wrapped service or check (see the module's text).

    ``subject(kwargs)`` names the object acted on as ``(model, pk)``; it is
    read lazily so a wrong id still gets its 404 from the service.
    """
    def decorate(service):
        @functools.wraps(service)
        def wrapper(*args, **kwargs):
            token = _depth.set(_depth.get() + 1)
            outermost = token.old_value in (0, contextvars.Token.MISSING)
            try:
                return service(*args, **kwargs)
            except TransitionError as exc:
                if refusal_code(exc):
                    try:
                        target = subject(kwargs) if subject else None
                    except Exception:  # an unexpected shape must not hide the refusal
                        target = None
                    note(exc, by=kwargs.get("by"), subject=target)
                    if outermost:  # the service's own transaction has ended
                        keep(exc)
                raise
            finally:
                _depth.reset(token)
        return wrapper
    return decorate


def permits(check, /, *args, **kwargs) -> bool:
    """Whether ``check`` lets this through, asked for what a page offers:
    nothing is recorded, since nobody has attempted anything yet. Only a
    refusal of authority answers False; a closed step is for the write to
    report."""
    token = _depth.set(_depth.get() + 1)
    try:
        check(*args, **kwargs)
    except TransitionError as exc:
        return refusal_code(exc) is None
    finally:
        _depth.reset(token)
    return True


@logs_refusals(subject=lambda kw: (type(kw["obj"]), kw["obj"].pk))
def transition_check(*, obj, spec, by) -> None:
    """Whether ``by`` may perform the transition ``spec`` on ``obj``, asked by
    an entry point before it reads the form: the role check of
    ``workflow.run_transition`` (``check_may_act``), its refusal kept."""
    check_may_act(obj, spec, by)

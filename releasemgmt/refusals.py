"""Refused attempts are evidence too.

A service refuses inside its transaction, and the refusal rolls that
transaction back: a row written there would vanish with it. So the service
entry points are wrapped by ``logs_refusals``, which writes the row after the
service's own transaction has ended (in the caller's transaction, if any) and
always logs a warning, so the attempt is in the log stream even when a caller
rolls back its own transaction.
"""
from __future__ import annotations

import functools
import logging

from .workflow import TransitionBlocked, TransitionForbidden

logger = logging.getLogger("releasemgmt.refusals")

SOD = "segregation_of_duties"


def refusal_code(exc) -> str | None:
    """The code recorded for this error, or None when it is not a refusal of
    authority (a wrong state or an unmet condition is not)."""
    if any(b.code == SOD for b in getattr(exc, "blockers", ())):
        return SOD
    if isinstance(exc, TransitionForbidden):
        return "forbidden"
    return None


def record_refusal(exc, *, by, subject=None) -> None:
    from django.contrib.contenttypes.models import ContentType
    from releases.models import RefusedAttempt

    code = refusal_code(exc)
    if code is None:
        return
    user = by if getattr(by, "pk", None) else None
    detail = exc.detail
    if code == SOD:  # the rule that refused, not a count of blockers
        detail = next(b.message for b in exc.blockers if b.code == SOD)
    content_type = object_id = None
    if subject is not None:
        model, object_id = subject
        content_type = ContentType.objects.get_for_model(model)
    logger.warning("refused %s by %s on %s #%s: %s (%s)", exc.name, getattr(user, "username", "anonymous"),
                   content_type and content_type.model, object_id, detail, code)
    RefusedAttempt.objects.create(
        by=user, username=getattr(user, "username", ""), action=str(exc.name)[:50],
        content_type=content_type, object_id=object_id, code=code, detail=detail,
    )


def logs_refusals(subject=None):
    """Record a refused attempt of the wrapped service.

    ``subject(kwargs)`` names the object acted on as ``(model, pk)``; it is
    read lazily so a wrong id still gets its 404 from the service.
    """
    def decorate(service):
        @functools.wraps(service)
        def wrapper(*args, **kwargs):
            try:
                return service(*args, **kwargs)
            except (TransitionForbidden, TransitionBlocked) as exc:
                if refusal_code(exc):
                    try:
                        target = subject(kwargs) if subject else None
                    except Exception:  # an unexpected shape must not hide the refusal
                        target = None
                    record_refusal(exc, by=kwargs.get("by"), subject=target)
                raise
        return wrapper
    return decorate

from django.apps import AppConfig


class AuditConfig(AppConfig):
    """The audit evidence export. What it reads (TransitionLog,
    RefusedAttempt, Signature and the history tables) stays in ``releases``
    and ``releasemgmt``."""

    name = "audit"
    verbose_name = "Audit evidence"

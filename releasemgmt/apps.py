from django.apps import AppConfig


class ReleaseMgmtConfig(AppConfig):
    """The project package as an app (no models): connects the security
    signal handlers and registers the deploy check that history is
    append-only."""

    name = "releasemgmt"
    verbose_name = "Release management"

    def ready(self):
        from django.contrib.auth import get_user_model
        from django.core import checks
        from django.db.models.signals import post_save

        from . import audit, events, monitoring
        from .security import revoke_on_deactivation

        checks.register(audit.check_append_only, checks.Tags.security, deploy=True)
        events.listen(monitoring.count_transition)

        post_save.connect(revoke_on_deactivation, sender=get_user_model(), dispatch_uid="revoke_on_deactivation")

from django.apps import AppConfig


class ReleaseMgmtConfig(AppConfig):
    """The project package as an app (no models): connects the security
    signal handlers."""

    name = "releasemgmt"
    verbose_name = "Release management"

    def ready(self):
        from django.contrib.auth import get_user_model
        from django.db.models.signals import post_save

        from .security import revoke_on_deactivation

        post_save.connect(revoke_on_deactivation, sender=get_user_model(), dispatch_uid="revoke_on_deactivation")

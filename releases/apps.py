from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ReleasesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "releases"
    verbose_name = "Release and deployment management"

    def ready(self):
        from releasemgmt.audit import install_history_triggers

        from . import calendar_cache, counts

        calendar_cache.connect()
        counts.connect()

        def install(sender, using="default", **kwargs):
            install_history_triggers(using=using)

        # Once per migrate, after the last app: every history table exists by then.
        post_migrate.connect(install, sender=self, dispatch_uid="history-append-only")

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class ReleasesConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "releases"
    verbose_name = "Release and deployment management"

    def ready(self):
        from releasemgmt import audit

        from . import counts, links

        counts.connect()
        links.connect()

        # Once per migrate: post_migrate is sent per app after the whole plan
        # has run, so every append-only table exists by then. weak=False:
        # the dispatcher must keep the receiver whatever the settings.
        post_migrate.connect(audit.install_after_migrate, sender=self, weak=False,
                             dispatch_uid="history-append-only")

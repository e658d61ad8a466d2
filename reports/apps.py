from django.apps import AppConfig


class ReportsConfig(AppConfig):
    """Reports and charts of the release process: its figures, the reports
    page and API, and the stays they are computed from."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "reports"
    verbose_name = "Reports"

    def ready(self):
        from releasemgmt import events

        from . import stays

        events.listen(stays.on_transition, model="releases.Release")

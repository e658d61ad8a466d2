from django.apps import AppConfig


class PipelinesConfig(AppConfig):
    """The deployment gate: CI/CD pipelines ask whether a release may deploy
    now, start its deployment and report how it ended, through the release
    process's own transitions. The process core never imports this app."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "pipelines"
    verbose_name = "Deployment gate and pipelines"

    def ready(self):
        from releasemgmt import events

        from . import schema  # noqa: F401 - registers the gate token's scheme with drf-spectacular
        from .adapters import checks

        # A release that moves may answer the adapters' waiting checks.
        events.listen(checks.on_release_event, model="releases.Release")

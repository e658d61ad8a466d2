from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    """Notifications, the outbox relay and vendor routing. Their models
    (OutboxMessage, Vendor, InboundDelivery) stay in ``releases``."""

    name = "notifications"
    verbose_name = "Notifications and vendor routing"

    def ready(self):
        from releasemgmt import events

        from . import notices, reminders  # noqa: F401 (registers the beat's task)

        # Inside the transition's transaction: the outbox rows commit with
        # the change they tell of, or neither does.
        events.listen(notices.on_release_event, model="releases.Release")
        events.listen(notices.on_communication, model="releases.Communication")

        from releasemgmt import monitoring

        from .metrics import COLLECTOR

        monitoring.register(COLLECTOR)

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    """Notifications, the outbox relay and vendor routing. Their models
    (OutboxMessage, Vendor, InboundDelivery) stay in ``releases``."""

    name = "notifications"
    verbose_name = "Notifications and vendor routing"

    def ready(self):
        from releasemgmt import events

        from . import notices, queue, reminders  # noqa: F401 (registers the beat's tasks)

        # Inside the transition's transaction: the outbox rows commit with
        # the change they tell of, or neither does.
        events.listen(notices.on_release_event, model="releases.Release")
        events.listen(notices.on_communication, model="releases.Communication")
        # Work landing in someone's queue: after the step's own notices.
        events.listen(queue.on_moved, model="releases.Release")
        events.listen(queue.on_moved, model="changes.ChangeRequest")

        from releasemgmt import monitoring

        from .metrics import COLLECTOR

        monitoring.register(COLLECTOR)

from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    """Event subscriptions: outside tools subscribe a URL to the process's
    events and get each one signed (Standard Webhooks), through the outbox.
    The process core and the other concerns never import this app."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "webhooks"
    verbose_name = "Event subscriptions (webhooks)"

    def ready(self):
        from notifications.tasks import register_sender
        from releasemgmt import events

        from . import catalog, delivery

        # Inside the change's transaction: a delivery commits with the change
        # it tells of, or neither does.
        for model in catalog.MODELS:
            events.listen(delivery.on_event, model=model)
        register_sender(delivery.SENDER, delivery.send)

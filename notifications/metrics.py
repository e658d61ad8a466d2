"""What the outbox tells an operator, read at each scrape of ``/metrics``
(``releasemgmt.monitoring``): how many messages wait (pending, or being
sent), how long the oldest pending one has waited, how many failed for
good. A backlog that keeps rising means the relay (Celery beat and a
worker) is not running or cannot reach the mail server."""
from __future__ import annotations

import logging

from django.db.models import Count, Min, Q
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily

from releases.choices import OutboxStatus
from releases.models import OutboxMessage

log = logging.getLogger(__name__)

WAITING = (OutboxStatus.PENDING, OutboxStatus.SENDING)


class OutboxCollector:
    def describe(self):
        return []  # nothing read from the database when registered

    def collect(self):
        try:
            found = OutboxMessage.objects.aggregate(
                waiting=Count("pk", filter=Q(status__in=WAITING)), failed=Count("pk", filter=Q(status=OutboxStatus.FAILED)),
                oldest=Min("created_at", filter=Q(status=OutboxStatus.PENDING)))
        except Exception as exc:  # noqa: BLE001 - a scrape without these figures, not a failed scrape
            log.warning("outbox metrics unavailable: %s: %s", type(exc).__name__, exc)
            return
        yield GaugeMetricFamily("releasemgmt_outbox_backlog", "Outbox messages waiting to be delivered (pending "
                                "or being sent).", value=found["waiting"])
        age = (timezone.now() - found["oldest"]).total_seconds() if found["oldest"] else 0.0
        yield GaugeMetricFamily("releasemgmt_outbox_oldest_pending_seconds", "How long the oldest pending outbox "
                                "message has waited (0 when none waits).", value=age)
        yield GaugeMetricFamily("releasemgmt_outbox_failed", "Outbox messages whose delivery failed for good.",
                                value=found["failed"])


COLLECTOR = OutboxCollector()

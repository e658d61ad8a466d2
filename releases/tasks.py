"""Celery tasks: deliver what the outbox holds."""
from __future__ import annotations

from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

MAX_ATTEMPTS = 8


@shared_task(acks_late=True, reject_on_worker_lost=True)
def deliver_outbox(batch: int = 100) -> int:
    """Deliver pending outbox messages; each row is locked while it is sent so
    two relays never send the same message."""
    from .choices import OutboxStatus
    from .models import OutboxMessage

    sent = 0
    now = timezone.now()
    while True:
        with transaction.atomic():
            rows = list(
                OutboxMessage.objects.select_for_update(skip_locked=True)
                .filter(status=OutboxStatus.PENDING)
                .exclude(next_attempt_at__gt=now)
                .order_by("id")[:batch]
            )
            if not rows:
                return sent
            for row in rows:
                row.attempts += 1
                try:
                    send_mail(row.subject, row.body, settings.DEFAULT_FROM_EMAIL, [row.recipient])
                except Exception as exc:  # noqa: BLE001 - any delivery failure is retried
                    row.last_error = str(exc)[:2000]
                    if row.attempts >= MAX_ATTEMPTS:
                        row.status = OutboxStatus.FAILED
                    else:
                        row.next_attempt_at = now + timedelta(seconds=30 * 2 ** row.attempts)
                else:
                    row.status = OutboxStatus.SENT
                    row.sent_at = timezone.now()
                    sent += 1
                row.save()
            if len(rows) < batch:
                return sent

"""Celery application: delivers the outbox (notifications, calendar, vendor routing)."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "releasemgmt.settings")

app = Celery("releasemgmt")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
